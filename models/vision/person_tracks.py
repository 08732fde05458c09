"""The per-stream state of people followed from frame to frame (MediaPipe's landmark-to-ROI loop, for many people).

A followed person's next landmark ROI comes from its current alignment points; it keeps its track id while the
pose model says it is there. The person detector is needed only to find people who are not followed yet, so it runs
when this state says so (``detection_due``). People who are lost are remembered for a while, moved along their last
velocity, so that a person found again by the detector gets the id it had.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.tracking.bytetrack import iou_matrix
from models.vision.roi import Roi


@dataclass
class FollowedPerson:
    """A person followed into the next frame: where to look (``roi``), the detector score it was found with (the
    first factor of its person score, as for a detected person) and its last box."""

    track_id: int
    roi: Roi
    detector_score: float
    box: np.ndarray


@dataclass
class LostPerson:
    """A person the pose model stopped seeing: its last box and velocity (px per frame), kept for ``max_missed``
    frames so that re-finding it restores its id."""

    track_id: int
    box: np.ndarray
    velocity: np.ndarray
    missed: int = 0

    def predicted_box(self) -> np.ndarray:
        return self.box + self.velocity * (self.missed + 1)


@dataclass
class PersonTracks:
    """One stream's followed people, lost people and detector schedule."""

    followed: list[FollowedPerson] = field(default_factory=list)
    lost: list[LostPerson] = field(default_factory=list)
    velocities: dict[int, np.ndarray] = field(default_factory=dict)
    next_id: int = 1
    frames_since_detection: int | None = None  # None: never detected
    time_of_detection: float | None = None
    detect_next: bool = True  # a person was lost on the last frame: look for people again
    frame_size: tuple[int, int] | None = None
    timestamp: float | None = None  # of the last frame (a jump is a seek)
    detections: int = 0  # detector runs, for metrics
    frames: int = 0
    backoff: float = 1.0  # the schedule's intervals x this: grows while searches find nobody new

    def searched(self, found_new: bool, max_backoff: float) -> None:
        """A search finished: one that found somebody new keeps the schedule tight; one that found nobody doubles
        the intervals up to ``max_backoff`` x (a scene whose people are all followed needs the detector less)."""
        self.backoff = 1.0 if found_new else min(max_backoff, self.backoff * 2.0)

    def detection_due(self, every_frames: int, every_s: float, timestamp: float) -> bool:
        """Whether the detector runs for this frame: at the first frame, after a loss, or on the schedule (every
        ``every_frames`` frames or ``every_s`` seconds of stream time, whichever comes first; 0 turns either off).
        An empty scene is looked at on the schedule too, not on every frame: that is when the detector would cost
        most, and a newcomer is found within the same period as anywhere else."""
        if self.detect_next or self.frames_since_detection is None:
            return True
        backoff = self.backoff if self.followed else 1.0  # an empty scene: newcomers are all there is to find
        if every_frames and self.frames_since_detection >= every_frames * backoff:
            return True
        return bool(every_s) and self.time_of_detection is not None and \
            timestamp - self.time_of_detection >= every_s * backoff

    def detected(self, timestamp: float) -> None:
        self.frames_since_detection, self.time_of_detection = 0, timestamp
        self.detect_next = False
        self.detections += 1

    def reset(self) -> None:
        """A new scene (an unrelated image, a new frame size): nobody is followed and ids are not carried over."""
        self.followed, self.lost, self.velocities = [], [], {}
        self.frames_since_detection, self.time_of_detection, self.detect_next = None, None, True
        self.backoff = 1.0

    def assign_ids(self, boxes: np.ndarray, max_missed: int, min_iou: float) -> np.ndarray:
        """Ids for newly found people: a lost person's id where the new box overlaps its predicted box (best
        overlap first), else a fresh one."""
        ids = np.full(len(boxes), -1, np.int64)
        if self.lost and len(boxes):
            iou = iou_matrix(np.stack([p.predicted_box() for p in self.lost]), boxes)
            taken: set[int] = set()
            for flat in np.argsort(-iou, axis=None):
                li, bi = np.unravel_index(flat, iou.shape)
                if iou[li, bi] < min_iou:
                    break
                if li in taken or ids[bi] >= 0:
                    continue
                ids[bi] = self.lost[li].track_id
                taken.add(int(li))
            self.lost = [p for i, p in enumerate(self.lost) if i not in taken]
        for i in np.flatnonzero(ids < 0):
            ids[i], self.next_id = self.next_id, self.next_id + 1
        return ids

    def update(self, followed: list[FollowedPerson], max_missed: int) -> None:
        """The people followed into the next frame; whoever was followed and is not any more becomes lost."""
        before = {p.track_id: p for p in self.followed}
        now = {p.track_id for p in followed}
        for p in followed:
            if p.track_id in before:
                step = p.box - before[p.track_id].box
                old = self.velocities.get(p.track_id, step)
                self.velocities[p.track_id] = 0.5 * old + 0.5 * step
        for tid, p in before.items():
            if tid not in now:
                self.lost.append(LostPerson(tid, p.box, self.velocities.pop(tid, np.zeros(4))))
                self.detect_next, self.backoff = True, 1.0
        for p in self.lost:
            p.missed += 1
        self.lost = [p for p in self.lost if p.missed <= max_missed]
        self.followed = followed
        if self.frames_since_detection is not None:
            self.frames_since_detection += 1
        self.frames += 1


def keypoint_box(keypoints: np.ndarray, size: tuple[int, int], min_visibility: float = 0.5) -> np.ndarray:
    """A followed person's box (x1, y1, x2, y2) from its keypoints: the seen ones (all where fewer than two are
    seen), padded for the head above the eyes and the hands and feet beyond the wrists and ankles, clipped to the
    image."""
    seen = keypoints[:, 2] >= min_visibility
    pts = keypoints[seen, :2] if seen.sum() >= 2 else keypoints[:, :2]
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    w, h = x2 - x1, y2 - y1
    pad_x, pad_top, pad_bottom = 0.1 * w + 0.05 * h, 0.12 * h + 0.05 * w, 0.05 * h
    width, height = size
    return np.array([max(0.0, x1 - pad_x), max(0.0, y1 - pad_top), min(float(width), x2 + pad_x),
                     min(float(height), y2 + pad_bottom)], np.float32)


def not_followed(detections: np.ndarray, followed_boxes: np.ndarray, min_iou: float = 0.3,
                 min_inside: float = 0.6) -> np.ndarray:
    """Indices of detector boxes that are nobody already followed: no followed box overlaps them by ``min_iou``
    and none holds ``min_inside`` of their area (a box on a followed person's legs is that person)."""
    if len(detections) == 0 or len(followed_boxes) == 0:
        return np.arange(len(detections))
    iou = iou_matrix(detections, followed_boxes)
    x1 = np.maximum(detections[:, None, 0], followed_boxes[None, :, 0])
    y1 = np.maximum(detections[:, None, 1], followed_boxes[None, :, 1])
    x2 = np.minimum(detections[:, None, 2], followed_boxes[None, :, 2])
    y2 = np.minimum(detections[:, None, 3], followed_boxes[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = np.maximum((detections[:, 2] - detections[:, 0]) * (detections[:, 3] - detections[:, 1]), 1e-9)
    covered = (iou >= min_iou) | (inter / area[:, None] >= min_inside)
    return np.flatnonzero(~covered.any(axis=1))
