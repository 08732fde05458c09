"""`online_action`: per tracked person, class probabilities of the current frame (and the anticipated next steps)
from a streaming TRN / OadTR / MLP, all tracks of a frame batched in one call."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from models.action.checkpoint import load_model
from models.action.features import coco17_subset, normalise_pose, skeleton_features
from models.action.inference import ActionStreamer
from models.action.train import pick_device
from pipeline.errors import ConfigError
from pipeline.packet import FramePacket
from pipeline.paths import asset
from pipeline.registry import register_stage
from pipeline.results import Persons
from pipeline.stage import Stage, StageContext, StageParams

DEFAULT_CHECKPOINT = "models/action/skeleton_oadtr_lite"


class OnlineActionParams(StageParams):
    checkpoint: str = Field(default=DEFAULT_CHECKPOINT, description="checkpoint folder; relative: under assets/")
    device: str = Field(default="cpu", description="cpu | cuda | auto")
    keypoint_threshold: float = Field(default=0.3, ge=0, le=1)
    max_missing_frames: int = Field(default=30, ge=1, description="free a track's state after this many frames")
    features: str | None = Field(default=None, description="packet key with per-person feature rows (n, D) "
                                                          "from another stage, instead of skeleton features")


@register_stage
class OnlineActionStage(Stage):
    type_name = "online_action"
    inputs = ("persons",)
    outputs = ("persons",)
    Params = OnlineActionParams

    def __init__(self, params: OnlineActionParams | None = None) -> None:
        super().__init__(params)
        if self.params.features:
            self.inputs = ("persons", self.params.features)
        self.streamer: ActionStreamer | None = None
        self._previous: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # track id -> last normalised pose

    def setup(self, context: StageContext) -> None:
        path = Path(self.params.checkpoint)
        if not path.is_absolute() and not path.exists():
            path = asset(self.params.checkpoint)
        device = self.params.device if self.params.device != "auto" else context.device
        self.device = pick_device("auto" if device == "auto" else device)
        self.cfg, model = load_model(path, self.device)
        if not self.params.features and self.cfg.feature.get("type") != "skeleton":
            raise ConfigError(f"action checkpoint {path} was not trained on skeleton features; set 'features' to "
                              f"the packet key that holds its {self.cfg.feature_dim}-d features")
        self.streamer = ActionStreamer(model, self.cfg, self.device, self.params.max_missing_frames)
        self.checkpoint = path

    def _skeleton_features(self, persons: Persons) -> np.ndarray:
        kp17 = coco17_subset(persons.keypoints, persons.keypoint_names)
        pos, vis = normalise_pose(kp17, self.params.keypoint_threshold)
        prev_pos, prev_vis = np.zeros_like(pos), np.zeros_like(vis)
        for i, tid in enumerate(persons.track_ids.tolist()):
            # velocity only where the track's temporal state goes on (not after its state expired)
            if tid >= 0 and tid in self._previous and tid in self.streamer.tracks:
                prev_pos[i], prev_vis[i] = self._previous[tid]
        feats = skeleton_features(pos, vis, prev_pos, prev_vis)
        live = set()
        for i, tid in enumerate(persons.track_ids.tolist()):
            if tid >= 0:
                self._previous[tid] = (pos[i], vis[i])
                live.add(tid)
        for tid in [t for t in self._previous if t not in live and t not in self.streamer.tracks]:
            del self._previous[tid]
        return feats

    def process(self, packet: FramePacket) -> dict[str, Any]:
        persons: Persons = packet.get("persons")
        if len(persons) == 0:
            self.streamer.update([], np.zeros((0, self.cfg.feature_dim), np.float32))  # ages the tracks' state
            return {"persons": replace(persons, action_probs=np.zeros((0, self.cfg.num_classes), np.float32),
                                       action_labels=tuple(self.cfg.classes))}
        if self.params.features:
            feats = np.asarray(packet.get(self.params.features), np.float32).reshape(len(persons), -1)
        elif persons.keypoints is None:
            return {"persons": persons}
        else:
            feats = self._skeleton_features(persons)
        probs, future = self.streamer.update(persons.track_ids.tolist(), feats)
        return {"persons": replace(persons, action_probs=probs, action_labels=tuple(self.cfg.classes),
                                   action_future=future)}

    def describe(self) -> dict:
        return {"checkpoint": str(getattr(self, "checkpoint", "")), "model": f"{self.cfg.kind}-{self.cfg.size}",
                "device": str(self.device)} if self.streamer else {}
