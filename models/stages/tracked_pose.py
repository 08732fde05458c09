"""`tracked_pose`: multi-person 2D pose that follows people from frame to frame, as MediaPipe's pose tracking follows
one: a followed person's landmark ROI comes from its previous frame's alignment points (one landmark pass, no
detector), and the person detector runs only to find people nobody follows yet.

The detector runs at the first frame, when someone is lost (the pose model's presence drops under
``pose.min_presence`` or the score under ``pose.min_output_score``), and on a schedule (``detect_every`` frames or
``detect_every_ms`` of stream time; while searches find nobody new the intervals double, up to ``detect_backoff``
times, and a loss or a newcomer resets them). Its boxes that overlap a followed person are that person; the others go
through the pose stage's detection path (pose-detector alignment, landmarks, refinement). Duplicates (two ROIs that
drifted onto one body) are removed by the pose stage's OKS and same-face rules; the weaker one is lost and the
detector looks again.

Frames that do not follow each other (a folder of photos: ``StreamContext.sequence`` False), a seek (the
timestamp goes back, or on by more than ``MAX_STEP_S``) or a change of frame size start afresh: the detector runs
on such a frame; on photos that is on every frame, exactly the ``person_detector`` -> ``pose`` graph.

In live mode (``async_detect``) the search for new people (detector, then the pose stage's detection path on the
boxes nobody follows) runs on a worker thread with single-threaded models of its own, and the landmark path does
not wait for it: the people it finds on frame t are followed from the first frame after it is done, starting from
the ROI their alignment points gave on frame t (people move little in a few frames; the next landmark pass
re-centres the ROI). The scheduler cannot express that (an input that arrives some frames late), so the stage holds
that one worker itself. Offline, the search runs in the frame that needs it, and results do not depend on timing.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydantic import Field

from models.stages.person_detector import PersonDetectorParams, PersonDetectorStage
from models.stages.pose import ALIGNMENT_ROI_SCALE, Posed, PoseParams, PoseStage
from models.vision.keypoints import MEDIAPIPE_POSE_NAMES
from models.vision.person_tracks import FollowedPerson, PersonTracks, keypoint_box, not_followed
from models.vision.persons import Persons
from models.vision.roi import roi_from_alignment
from pipeline import modes
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageContext, StageParams, StreamContext


MAX_STEP_S = 1.0  # a step back in time or forward by more than this is a seek: nobody is followed across it


class TrackedPoseParams(StageParams):
    detector: PersonDetectorParams = Field(default_factory=PersonDetectorParams,
                                           description="the person detector's parameters (person_detector)")
    pose: PoseParams = Field(default_factory=PoseParams, description="the pose model's parameters (pose)")
    detect_every: int = Field(default=10, ge=0, description="run the detector at least every this many frames "
                                                            "(new people are found within this period); 0: only "
                                                            "by time, losses and the first frame; 1: every frame")
    detect_every_ms: float = Field(default=500.0, ge=0, description="... and at least every this many ms of "
                                                                    "stream time (0: off)")
    detect_backoff: float = Field(default=3.0, ge=1.0, description="while searches find nobody new, their "
                                                                   "intervals double up to this factor (a loss or "
                                                                   "a newcomer resets them): a newcomer is found "
                                                                   "within detect_every x this at worst")
    video_tiles: str = Field(default="fine", pattern=r"^(auto|fine|none|\d+x\d+)$",
                             description="the detector's tiles in a video (detector.tiles stays for photos): it "
                                         "runs on few frames there, so it can afford to look closer for small "
                                         "people")
    async_detect: bool = Field(default=True, description="live mode: the detector runs beside the landmark path "
                                                         "instead of in it")
    max_missed: int = Field(default=30, ge=0, description="frames a lost person's id is kept for when it is "
                                                          "found again")
    reid_iou: float = Field(default=0.3, gt=0, le=1, description="least overlap of a new person's box with a lost "
                                                                 "person's predicted box to give it that id")


@dataclass
class TrackedPoseState:
    """One stream's followed people and, in live mode, the detection under way on the worker."""

    tracks: PersonTracks = field(default_factory=PersonTracks)
    sequence: bool = True
    live: bool = False
    pending: Future | None = None


@register_stage
class TrackedPoseStage(Stage):
    type_name = "tracked_pose"
    inputs = ("color",)
    outputs = ("persons", "persons.keypoints", "persons.track_ids")
    Params = TrackedPoseParams

    def setup(self, context: StageContext) -> None:
        self.context = context
        self.detector = PersonDetectorStage(self.params.detector)
        self.detector.setup(context)
        self.pose = PoseStage(self.params.pose)
        self.pose.setup(context)
        self.finder: _Finder | None = None  # the live streams' background search, made by the first one
        self._lock = threading.Lock()

    def open_stream(self, stream: StreamContext) -> TrackedPoseState:
        live = stream.mode == modes.LIVE and self.params.async_detect and stream.sequence
        if live:
            with self._lock:
                if self.finder is None:
                    self.finder = _Finder(self.params, self.context)
        return TrackedPoseState(sequence=stream.sequence, live=live)

    def close_stream(self, state: TrackedPoseState) -> None:
        if state is not None and state.pending is not None:
            state.pending.cancel()

    def close(self) -> None:
        if getattr(self, "finder", None) is not None:
            self.finder.close()

    def find(self, image: np.ndarray, followed_boxes: np.ndarray, sequence: bool = True) -> Posed:
        """People the detector finds that nobody follows yet, posed (the pose stage's detection path)."""
        return find_people(self.detector, self.pose, image, followed_boxes,
                           self.params.video_tiles if sequence else None)

    def process(self, packet: FramePacket, state: TrackedPoseState | None = None) -> dict[str, Any]:
        image = np.asarray(packet.color)
        state = state if state is not None else TrackedPoseState(sequence=False)
        tracks = state.tracks
        size = (image.shape[1], image.shape[0])
        jumped = tracks.timestamp is not None and not 0 <= packet.timestamp - tracks.timestamp <= MAX_STEP_S
        tracks.timestamp = packet.timestamp
        if not state.sequence or tracks.frame_size != size or jumped:
            self.close_stream(state)
            state.pending = None
            tracks.reset()
            tracks.frame_size = size
        due = tracks.detection_due(self.params.detect_every, self.params.detect_every_ms / 1000.0, packet.timestamp)
        followed = tracks.followed + (self.joining(state, size) if state.live else [])
        kept = self.pose.follow(image, _as_persons(followed), [p.roi for p in followed])
        kept = _with_boxes(kept, _keypoint_boxes(kept.persons, size))
        found = _nobody()
        if due and not state.live:
            tracks.detected(packet.timestamp)
            found = self.find(image, kept.persons.boxes, state.sequence)
            tracks.searched(len(found.persons) > 0, self.params.detect_backoff)
        elif due and state.pending is None:
            tracks.detected(packet.timestamp)
            state.pending = self.finder.submit(image, kept.persons.boxes)
            if tracks.frames == 0:  # the stream's first frame: wait, rather than show nobody until it is done
                found, state.pending = state.pending.result(), None
                tracks.searched(len(found.persons) > 0, self.params.detect_backoff)
        if state.sequence:
            found = _with_boxes(found, _keypoint_boxes(found.persons, size))
        people = _concat(kept, found)
        people = people[self.pose.deduplicate(people.persons)]
        if not state.sequence:
            return {"persons": replace(people.persons, track_ids=np.full(len(people.persons), -1))}
        ids = people.persons.track_ids.copy()
        fresh = ids < 0
        ids[fresh] = tracks.assign_ids(people.persons.boxes[fresh], self.params.max_missed, self.params.reid_iou)
        people = replace(people, persons=replace(people.persons, track_ids=ids))
        tracks.update([FollowedPerson(int(t), roi_from_alignment(a[0], a[1], ALIGNMENT_ROI_SCALE), float(s), b)
                       for t, a, s, b in zip(ids, people.align, people.detector_scores, people.persons.boxes)],
                      self.params.max_missed)
        return {"persons": people.persons}

    def joining(self, state: TrackedPoseState, size: tuple[int, int]) -> list[FollowedPerson]:
        """Live mode: the people a finished background search found (on an earlier frame), to be followed from
        this frame on (id -1 until the landmark pass confirms them); those on someone followed are dropped."""
        if state.pending is None or not state.pending.done():
            return []
        found, state.pending = state.pending.result(), None
        state.tracks.searched(len(found.persons) > 0, self.params.detect_backoff)
        boxes = _keypoint_boxes(found.persons, size)
        followed = np.stack([p.box for p in state.tracks.followed]) if state.tracks.followed \
            else np.zeros((0, 4), np.float32)
        return [FollowedPerson(-1, roi_from_alignment(found.align[i, 0], found.align[i, 1], ALIGNMENT_ROI_SCALE),
                               float(found.detector_scores[i]), boxes[i])
                for i in not_followed(boxes, followed)]

    def describe(self) -> dict:
        info = {"detector": self.detector.describe(), "pose": self.pose.describe()}
        if self.finder is not None:  # live streams' background search: models of its own
            info["search"] = {"detector": self.finder.detector.describe(), "pose": self.finder.pose.describe()}
        return info


def find_people(detector: PersonDetectorStage, pose: PoseStage, image: np.ndarray, followed_boxes: np.ndarray,
                tiles: str | None) -> Posed:
    """The detector's boxes that are nobody followed yet (``tiles`` overrides the detector's), posed by the pose
    stage's detection path."""
    boxes, scores = detector.detect(image, tiles)
    new = not_followed(boxes, followed_boxes)
    return pose.estimate(image, Persons(boxes[new], scores[new]))


class _Finder:
    """The background search of live streams: the detector and the pose stage's detection path on a worker thread,
    with models of their own that use that thread only (one intra-op thread), so that the search takes at most one
    core and the landmark path keeps the other. (A lower thread priority made no difference to the landmark path's
    latency here and starved the search when the landmark path used every core.)"""

    def __init__(self, params: TrackedPoseParams, context: StageContext) -> None:
        self.tiles = params.video_tiles
        self.detector = PersonDetectorStage(params.detector)
        self.detector.setup(context, intra_op_threads=1)
        self.pose = PoseStage(params.pose)
        self.pose.setup(context, intra_op_threads=1)
        self.worker = ThreadPoolExecutor(1, thread_name_prefix=f"{context.name}-search")

    def submit(self, image: np.ndarray, followed_boxes: np.ndarray) -> Future:
        return self.worker.submit(find_people, self.detector, self.pose, image, followed_boxes, self.tiles)

    def close(self) -> None:
        self.worker.shutdown(wait=True, cancel_futures=True)


def _as_persons(followed: list[FollowedPerson]) -> Persons:
    """The followed people as detector rows: their last box, detector score and id."""
    return Persons(np.stack([p.box for p in followed]) if followed else np.zeros((0, 4)),
                   [p.detector_score for p in followed], track_ids=[p.track_id for p in followed])


def _keypoint_boxes(persons: Persons, size: tuple[int, int]) -> np.ndarray:
    if len(persons) == 0:
        return np.zeros((0, 4), np.float32)
    return np.stack([keypoint_box(k, size) for k in persons.keypoints])


def _nobody() -> Posed:
    return Posed(Persons(np.zeros((0, 4)), np.zeros(0), keypoints=np.zeros((0, 33, 3)),
                         keypoint_names=MEDIAPIPE_POSE_NAMES), np.zeros((0, 2, 2), np.float32), np.zeros(0, np.float32))


def _with_boxes(posed: Posed, boxes: np.ndarray) -> Posed:
    return replace(posed, persons=replace(posed.persons, boxes=boxes))


def _concat(a: Posed, b: Posed) -> Posed:
    """The rows of ``a`` then ``b`` (both with the pose model's keypoints)."""
    pa, pb = a.persons, b.persons
    persons = Persons(np.concatenate([pa.boxes, pb.boxes]), np.concatenate([pa.scores, pb.scores]),
                      track_ids=np.concatenate([pa.track_ids, pb.track_ids]),
                      keypoints=np.concatenate([pa.keypoints, pb.keypoints]), keypoint_names=MEDIAPIPE_POSE_NAMES)
    return Posed(persons, np.concatenate([a.align, b.align]),
                 np.concatenate([a.detector_scores, b.detector_scores]))
