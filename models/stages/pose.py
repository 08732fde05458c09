"""`pose`: multi-person 2D pose. MediaPipe's landmark model (33 keypoints + visibility) on every person's region,
all people of a frame in one batched call.

MediaPipe's own solution tracks one person. Here each detected person gets a square ROI around its box; with
``refine`` the model's two alignment landmarks (body centre and a point giving scale and rotation) define a second,
rotation-aligned ROI, as MediaPipe's tracking step does, and the model runs again on it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import Field

from models.runtime.device import device_field
from models.runtime.onnx import load_stage_model
from models.vision import pose_alignment
from models.vision.arrays import sigmoid
from models.vision.heatmap_refine import refine_from_heatmaps
from models.vision.keypoint_support import mask_support
from models.vision.same_face import same_face_keep
from models.vision.roi import Roi, crop_batch, roi_from_alignment, roi_from_box
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from models.vision.keypoints import MEDIAPIPE_POSE_NAMES
from models.vision.persons import Persons
from models.vision.pose_nms import coco17_rows, oks_nms
from pipeline.stage import Stage, StageContext, StageParams

INPUT = 256
ALIGNMENT_ROI_SCALE = 1.25  # MediaPipe's ROI side / twice the centre-to-scale-point distance
COCO17_ROWS = coco17_rows(MEDIAPIPE_POSE_NAMES)  # the model's rows that OKS compares, found once


@dataclass(frozen=True)
class Posed:
    """People with keypoints, each one's two alignment points (N,2,2: body centre, scale point), from which its
    next frame's ROI follows, and the detector score each one was found with (its score before the pose model)."""

    persons: Persons
    align: np.ndarray
    detector_scores: np.ndarray

    def __getitem__(self, rows: np.ndarray) -> "Posed":
        return Posed(self.persons[rows], self.align[rows], self.detector_scores[rows])


class PoseParams(StageParams):
    model: str = "pose_landmark_full"
    alignment: str = Field(default="pose_detector", pattern="^(pose_detector|box)$",
                           description="first ROI: pose_detector = MediaPipe's rotated full-body ROI from the pose "
                                       "detector run on a crop around each box (bodies cut by the image edge or "
                                       "hidden behind a table keep their proportions); box = a square around the "
                                       "box (also the fallback where the detector finds nobody)")
    alignment_model: str = "pose_detection"
    alignment_crop: float = Field(default=1.5, ge=1.0, le=4.0, description="detector crop side / longest box side")
    alignment_min_score: float = Field(default=0.5, ge=0, le=1, description="least pose-detector score whose "
                                                                            "body points give the ROI")
    unaligned_weight: float = Field(default=0.5, ge=0, le=1,
                                    description="person score factor where the pose detector found no body in the "
                                                "box: often part of someone (an arm, the legs) or not a person")
    dedupe: bool = Field(default=True, description="before the landmark model, boxes tied to the same face are one "
                                                   "person: the best detector box stays, with the ROI of the "
                                                   "strongest pose-detector candidate among them")
    dedupe_min_score: float = Field(default=0.3, ge=0, le=1, description="least pose-detector score that ties a "
                                                                         "box to a face (a crop is known to hold a "
                                                                         "person)")
    roi_scale: float = Field(default=1.4, gt=0.5, le=3.0, description="box ROI side / longest box side")
    refine_passes: int = Field(default=1, ge=0, le=3, description="re-runs on the rotation-aligned ROI that the "
                                                                     "previous pass's alignment landmarks give, "
                                                                     "for people whose first ROI came from the box")
    refine_aligned: bool = Field(default=False, description="also re-run people whose ROI came from the pose "
                                                            "detector (MediaPipe's solution does not, on a still)")
    score: str = Field(default="visibility", pattern="^(visibility|presence)$",
                       description="person score: detector x presence [x mean keypoint visibility]")
    min_presence: float = Field(default=0.1, ge=0, le=1, description="drop people the model says are not there")
    min_output_score: float = Field(default=0.2, ge=0, le=1,
                                    description="drop people whose person score (see score) is below this: they "
                                                "are not in the output. The tracker, before this stage, still "
                                                "sees the detector's low-score boxes")
    heatmap_refine: bool = Field(default=True, description="MediaPipe's refinement of each landmark from the "
                                                           "model's heatmaps (7x7 window, where confident)")
    mask_visibility: bool = Field(default=True, description="a keypoint's visibility is the model's visibility x "
                                                            "its segmentation mask near the keypoint: legs hidden "
                                                            "behind a table are predicted, not seen")
    max_people: int = Field(default=32, ge=1)
    oks_nms: float = Field(default=0.9, gt=0, le=1.01,
                           description="a person whose pose has an OKS above this with a better-scoring one is a "
                                       "duplicate (boxes cut at tile edges, upper-body boxes) and is not in the "
                                       "output; above 1 turns it off")
    same_face: bool = Field(default=True, description="one face, one person: of two people whose noses are on the "
                                                      "same face, or a low-score one (< 0.25) lying in another's "
                                                      "head (a close-up's forehead), the stronger stays")
    max_batch: int = Field(default=4, ge=1,
                           description="people per model call: a crowd runs in calls of this many. On the CPU "
                                       "ONNX Runtime's arena keeps the activations of the largest call (~15 MiB "
                                       "per person), and calls of 4 are as fast as one of 32; raise it on a GPU")
    device: str = device_field()


@register_stage
class PoseStage(Stage):
    type_name = "pose"
    inputs = ("color", "persons")
    outputs = ("persons", "persons.keypoints")  # rows too: it drops people the pose model does not confirm
    stateless = True
    Params = PoseParams
    aligner = None  # the pose detector's model, where alignment is pose_detector (set up in setup)

    def setup(self, context: StageContext, intra_op_threads: int = 0) -> None:
        """``intra_op_threads``: CPU threads per model call (0: one per core; see tracked_pose)."""
        self.model = load_stage_model(self.params.model, self.params.device, context.device, intra_op_threads)
        self.aligner = None
        if self.params.alignment == "pose_detector":
            self.aligner = load_stage_model(self.params.alignment_model, self.params.device, context.device,
                                            intra_op_threads)

    def alignment_rois(self, image: np.ndarray, boxes: np.ndarray) -> tuple[list[Roi], np.ndarray, np.ndarray]:
        """For each box, from the pose detector on a crop around it: the ROI (the box ROI where it finds nobody
        there with ``alignment_min_score``), the face box it is tied to (NaN where none) and that face's score."""
        h, w = image.shape[:2]
        crops_at = [pose_alignment.crop_around(b, self.params.alignment_crop, (w, h)) for b in boxes]
        crops = crop_batch(image, crops_at, pose_alignment.INPUT) * 2.0 - 1.0
        raw, logits = self.aligner.run_input_chunked(crops, self.params.max_batch)[:2]
        rois, faces = [], np.full((len(boxes), 4), np.nan, np.float32)
        face_scores = np.zeros(len(boxes), np.float32)
        least = min(self.params.alignment_min_score, self.params.dedupe_min_score)
        for i, (box, at) in enumerate(zip(boxes, crops_at)):
            found = pose_alignment.decode(raw[i], logits[i], least)
            found = pose_alignment.BodyCandidates(
                at.to_image(found.boxes.reshape(-1, 2), pose_alignment.INPUT).reshape(-1, 4),
                at.to_image(found.keypoints.reshape(-1, 2), pose_alignment.INPUT).reshape(-1, 4, 2),
                found.scores)
            best = pose_alignment.pick(found, box)
            if best >= 0 and found.scores[best] >= self.params.dedupe_min_score:
                faces[i], face_scores[i] = found.boxes[best], found.scores[best]
            aligned = best >= 0 and found.scores[best] >= self.params.alignment_min_score
            rois.append(pose_alignment.alignment_roi(found.keypoints[best]) if aligned
                        else roi_from_box(box, self.params.roi_scale))
        return rois, faces, face_scores

    def landmarks(self, image: np.ndarray, rois: list[Roi]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the model on ``rois``: keypoints (N,39,3) image px + score, presence (N,), alignment pts (N,2,2)."""
        crops = crop_batch(image, rois, INPUT, replicate_border=True)
        outs = self.model.run_input_chunked(crops, self.params.max_batch)
        raw, presence = outs[0], outs[1]
        lm = raw.reshape(len(rois), 39, 5)
        crop_points = lm[:, :, :2]
        if self.params.heatmap_refine:
            crop_points = refine_from_heatmaps(crop_points, outs[3], INPUT)
        points = np.stack([roi.to_image(crop_points[i], INPUT) for i, roi in enumerate(rois)])
        visibility = sigmoid(lm[:, :, 3])
        if self.params.mask_visibility:
            visibility = visibility * mask_support(crop_points, outs[2], INPUT)
        kps = np.concatenate([points, visibility[..., None]], axis=2).astype(np.float32)
        return kps, sigmoid(presence.reshape(-1)), points[:, 33:35]

    def process(self, packet: FramePacket) -> dict[str, Any]:
        out = self.estimate(packet.color, packet.get("persons")).persons
        return {"persons": out[self.deduplicate(out)]}

    def estimate(self, image: np.ndarray, persons: Persons) -> Posed:
        """Detected people -> posed people (alignment ROI, same-face dedupe, landmarks, refinement): those the
        model says are there with a score of at least ``min_output_score``."""
        if len(persons) == 0:
            return Posed(replace(persons, keypoints=np.zeros((0, 33, 3), np.float32),
                                 keypoint_names=MEDIAPIPE_POSE_NAMES), np.zeros((0, 2, 2), np.float32),
                         np.zeros(0, np.float32))
        persons = persons[np.arange(min(len(persons), self.params.max_people))]
        image = np.asarray(image)
        if self.aligner is not None:
            rois, faces, face_scores = self.alignment_rois(image, persons.boxes)
            aligned = face_scores >= self.params.alignment_min_score
            if self.params.dedupe and len(persons) > 1:
                leader = pose_alignment.same_face_leaders(persons.scores, faces)
                keep = np.flatnonzero(leader == np.arange(len(leader)))
                for k in keep:
                    group = np.flatnonzero(leader == k)
                    strongest = group[np.argmax(face_scores[group])]
                    rois[k], aligned[k] = rois[strongest], aligned[strongest]
                persons, rois, aligned = persons[keep], [rois[k] for k in keep], aligned[keep]
        else:
            rois = [roi_from_box(b, self.params.roi_scale) for b in persons.boxes]
            aligned = np.zeros(len(persons), bool)
        kps, presence, align = self.landmarks(image, rois)
        for _ in range(self.params.refine_passes):
            refined = [roi_from_alignment(a[0], a[1], ALIGNMENT_ROI_SCALE) for a in align]
            ok = np.array([r.size > 8 for r in refined]) & (self.params.refine_aligned | ~aligned)
            if not ok.any():
                break
            kps2, presence2, align2 = self.landmarks(image, [r for r, o in zip(refined, ok) if o])
            kps[ok], presence[ok], align[ok] = kps2, presence2, align2
        return self.scored(persons, kps, presence, align, aligned)

    def follow(self, image: np.ndarray, persons: Persons, rois: list[Roi]) -> Posed:
        """Tracked people: one landmark pass on each one's ROI from the previous frame (already rotation-aligned,
        as MediaPipe's tracking step assumes), scored and filtered as ``estimate`` does."""
        if len(persons) == 0:
            return self.estimate(image, persons)
        kps, presence, align = self.landmarks(np.asarray(image), rois)
        return self.scored(persons, kps, presence, align, np.ones(len(persons), bool))

    def scored(self, persons: Persons, kps: np.ndarray, presence: np.ndarray, align: np.ndarray,
               aligned: np.ndarray) -> Posed:
        """Person score = detector score x presence [x mean keypoint visibility] (ranks people for COCO AP);
        those under ``min_presence`` / ``min_output_score`` are left out."""
        body = kps[:, :33]
        keep = presence >= self.params.min_presence
        scores = persons.scores * presence
        if self.params.score == "visibility":
            scores = scores * body[:, :, 2].mean(axis=1)
        keep &= scores >= self.params.min_output_score
        scores = scores * np.where(aligned, 1.0, self.params.unaligned_weight)  # ranks them lower, keeps them
        out = replace(persons, scores=scores.astype(np.float32), keypoints=body,
                      keypoint_names=MEDIAPIPE_POSE_NAMES)
        keep = np.flatnonzero(keep)
        return Posed(out[keep], align[keep], persons.scores[keep])

    def deduplicate(self, persons: Persons) -> np.ndarray:
        """Rows to keep, in order: a pose that repeats a better one (OKS above ``oks_nms``: boxes cut at tile
        edges, upper-body boxes) or a second person on the same face (``same_face``) is left out."""
        keep = np.arange(len(persons))
        if len(persons) > 1 and self.params.oks_nms <= 1:
            coco = persons.keypoints[:, COCO17_ROWS]
            keep = np.sort(oks_nms(coco, persons.boxes, persons.scores, self.params.oks_nms))
        if len(keep) > 1 and self.params.same_face:
            p = persons[keep]
            keep = keep[same_face_keep(p.boxes, p.scores, p.keypoints, p.keypoint_names)]
        return keep

    def describe(self) -> dict:
        info = self.model.describe()
        if self.aligner is not None:
            info["alignment"] = self.aligner.describe()
        return info
