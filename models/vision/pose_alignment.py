"""Where a person's whole body is, even when most of it is outside the image: MediaPipe's pose detector.

The landmark model is trained on ROIs centred on the hip centre, upright, with a side of 2.5x the distance from the
hip centre to a "full-body" point the detector predicts. A box around the visible part of a person (an upper-body
close-up, someone behind a table) gives a ROI that squeezes the whole skeleton into what is visible; the detector's
alignment points do not, because it predicts them from the face and shoulders. Its output per anchor is a face box
and four keypoints: hip centre, full-body size/rotation point, shoulder centre, upper-body size/rotation point.

Multi-person use: the detector runs on a square crop around each person box (all crops in one batched call), and
the candidate that best explains that box is that person's alignment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.vision.blazeface import FaceDetectorSpec, anchors, decode_anchors
from models.vision.roi import Roi, roi_from_alignment

INPUT = 224
SPEC = FaceDetectorSpec(INPUT, (8, 16, 32), (2, 2, 6))  # 28x28x2 + 14x14x2 + 7x7x6 = 2254 anchors
ANCHORS = anchors(SPEC)
ROI_SCALE = 1.25  # MediaPipe's pose_detection_to_roi: side = 2 x |hip centre -> full-body point| x 1.25


@dataclass(frozen=True)
class BodyCandidates:
    """Pose-detector detections in one crop: face boxes (n,4) xyxy, keypoints (n,4,2), scores (n,)."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def decode(raw: np.ndarray, logits: np.ndarray, score_threshold: float = 0.5,
           iou_threshold: float = 0.3) -> BodyCandidates:
    """One crop's raw outputs (A,12) and (A,1) -> candidates above ``score_threshold``, best first, in input
    pixels, after MediaPipe's weighted NMS: each kept detection's box and keypoints are the score-weighted mean of
    the detections that overlap it (IoU > ``iou_threshold``), which steadies the alignment points."""
    boxes, kps, scores = decode_anchors(raw, logits, ANCHORS, 4, score_threshold)
    order = np.argsort(-scores)
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    out_boxes, out_kps, out_scores = [], [], []
    left = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not left[i]:
            continue
        group = left & (_iou(boxes, boxes[i]) > iou_threshold)
        group[i] = True
        wts = scores[group] / scores[group].sum()
        out_boxes.append(wts @ boxes[group])
        out_kps.append(np.tensordot(wts, kps[group], axes=1))
        out_scores.append(scores[i])
        left &= ~group
    if not out_scores:
        return BodyCandidates(np.zeros((0, 4), np.float32), np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32))
    return BodyCandidates(np.array(out_boxes, np.float32), np.array(out_kps, np.float32),
                          np.array(out_scores, np.float32))


def crop_around(box: np.ndarray, scale: float, image_size: tuple[int, int]) -> Roi:
    """The square, axis-aligned crop the detector sees for one person box: the box's long side x ``scale``, at
    most the image's long side, moved inside the image where it fits. The detector was trained on whole images:
    black padding around a shrunken close-up makes it predict a smaller body, so a large person gets the whole
    image, as MediaPipe's own solution gives it, and a small one a zoomed window of real surroundings."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = image_size
    side = min(max(x2 - x1, y2 - y1, 1.0) * scale, float(max(w, h)))
    centre = []
    for lo, hi, extent in ((x1, x2, w), (y1, y2, h)):
        c = (lo + hi) / 2
        centre.append(extent / 2 if side >= extent else min(max(c, side / 2), extent - side / 2))
    return Roi(centre[0], centre[1], side, 0.0)


def body_squares(keypoints: np.ndarray) -> np.ndarray:
    """(n,4,2) candidate keypoints -> (n,4) xyxy squares centred on the hip centre, half side the distance to the
    full-body point: the region the whole body occupies."""
    centre, top = keypoints[:, 0], keypoints[:, 1]
    r = np.linalg.norm(top - centre, axis=1)
    return np.stack([centre[:, 0] - r, centre[:, 1] - r, centre[:, 0] + r, centre[:, 1] + r], axis=1)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes (n,4) with one box (4,)."""
    inter = _intersection(a, b)
    return inter / np.maximum(_area(a) + _area(b) - inter, 1e-6)


def _area(r: np.ndarray) -> np.ndarray:
    return np.clip(r[..., 2] - r[..., 0], 0, None) * np.clip(r[..., 3] - r[..., 1], 0, None)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(a[:, 2], b[2]) - np.maximum(a[:, 0], b[0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[3]) - np.maximum(a[:, 1], b[1]), 0, None)
    return ix * iy


def pick(candidates: BodyCandidates, person_box: np.ndarray, min_cover: float = 0.6) -> int:
    """The candidate (image pixels) that is the person in ``person_box``, or -1.

    Its face must lie inside the box, and its body square must cover ``min_cover`` of the box (the box shows only
    what is visible, the square also what is cut off or hidden, so it is usually the larger). Among those, the best
    score x cover, discounted by how far the face is from the box's vertical centre line (in a box that also holds
    part of a neighbour, the neighbour's face is off to the side)."""
    if len(candidates) == 0:
        return -1
    box = np.asarray(person_box, np.float32)
    x1, y1, x2, y2 = box
    face_cx = (candidates.boxes[:, 0] + candidates.boxes[:, 2]) / 2
    face_cy = (candidates.boxes[:, 1] + candidates.boxes[:, 3]) / 2
    inside = (face_cx >= x1) & (face_cx <= x2) & (face_cy >= y1) & (face_cy <= y2)
    cover = _intersection(body_squares(candidates.keypoints), box) / max(float(_area(box)), 1e-6)
    off_centre = (face_cx - (x1 + x2) / 2) / max(float(x2 - x1), 1e-6)
    quality = np.where(inside & (cover >= min_cover),
                       candidates.scores * cover * np.exp(-0.5 * (off_centre / 0.25) ** 2), -1.0)
    best = int(np.argmax(quality))
    return best if quality[best] > 0 else -1


def same_face_leaders(scores: np.ndarray, faces: np.ndarray, max_offset: float = 0.5) -> np.ndarray:
    """One face is one person: for each person box, the index of the best-scoring box tied to the same face (itself
    where it is the best, or has no face). Two face boxes are the same face when their centres are closer than
    ``max_offset`` x the smaller one's width (the same face found in two crops comes out at somewhat different
    sizes). ``faces`` (n,4) is NaN where no face was found."""
    leader = np.arange(len(scores))
    has_face = np.isfinite(faces).all(axis=1)
    centres = (faces[:, :2] + faces[:, 2:]) / 2
    widths = faces[:, 2] - faces[:, 0]
    free = has_face.copy()
    for i in np.argsort(-scores, kind="stable"):
        if not free[i]:
            continue
        free[i] = False
        others = np.flatnonzero(free)
        close = np.linalg.norm(centres[others] - centres[i], axis=1) < max_offset * np.minimum(widths[others],
                                                                                                widths[i])
        leader[others[close]] = i
        free[others[close]] = False
    return leader


def alignment_roi(keypoints: np.ndarray) -> Roi:
    """(4,2) candidate keypoints in image pixels -> the landmark model's rotated ROI."""
    return roi_from_alignment(keypoints[0], keypoints[1], ROI_SCALE)
