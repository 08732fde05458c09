"""`online_action`: per tracked person, class probabilities of the current frame (and the anticipated next steps)
from a streaming TRN / OadTR / MLP, all tracks of a frame batched in one call."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from models.action.checkpoint import load_model
from models.action.features import coco17_subset, keep_joints, normalise_pose, skeleton_features
from models.action.inference import ActionStreamer
from models.runtime.device import device_field, select_device, torch_device
from pipeline.errors import ConfigError
from pipeline.packet import FramePacket
from pipeline.paths import asset
from pipeline.registry import register_stage
from models.vision.persons import Persons
from pipeline.stage import Stage, StageContext, StageParams, StreamContext

DEFAULT_CHECKPOINT = "models/action/skeleton_oadtr_lite"


class OnlineActionParams(StageParams):
    checkpoint: str = Field(default=DEFAULT_CHECKPOINT, description="checkpoint folder; relative: under assets/")
    device: str = device_field()
    keypoint_threshold: float = Field(default=0.3, ge=0, le=1)
    max_missing_frames: int = Field(default=30, ge=1, description="free a track's state after this many frames")
    label_threshold: float | None = Field(default=None, ge=0, le=1, description="show an action only from this "
                                          "probability on; default: the checkpoint's calibrated threshold")
    features: str | None = Field(default=None, description="packet key with per-person feature rows (n, D) "
                                                          "from another stage, instead of skeleton features")


@dataclass
class _ActionStreamState:
    """One stream's memory: the model's per-track state and each track's last normalised pose (for velocity)."""

    streamer: ActionStreamer
    previous: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


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
        self.model = None

    def setup(self, context: StageContext) -> None:
        path = Path(self.params.checkpoint)
        if not path.is_absolute() and not path.exists():
            path = asset(self.params.checkpoint)
        self.device = torch_device(select_device(self.params.device, context.device))
        self.cfg, self.model = load_model(path, self.device)
        if not self.params.features and self.cfg.feature.get("type") != "skeleton":
            raise ConfigError(f"action checkpoint {path} was not trained on skeleton features; set 'features' to "
                              f"the packet key that holds its {self.cfg.feature_dim}-d features")
        self.checkpoint = path
        self.label_threshold = (self.cfg.label_threshold if self.params.label_threshold is None
                                else self.params.label_threshold)

    def open_stream(self, stream: StreamContext) -> _ActionStreamState:
        return _ActionStreamState(ActionStreamer(self.model, self.cfg, self.device, self.params.max_missing_frames))

    def _skeleton_features(self, persons: Persons, state: _ActionStreamState) -> np.ndarray:
        kp17 = keep_joints(coco17_subset(persons.keypoints, persons.keypoint_names), self.cfg.feature.get("joints"))
        pos, vis = normalise_pose(kp17, self.params.keypoint_threshold)
        prev_pos, prev_vis = np.zeros_like(pos), np.zeros_like(vis)
        previous, tracks = state.previous, state.streamer.tracks
        for i, tid in enumerate(persons.track_ids.tolist()):
            # velocity only where the track's temporal state goes on (not after its state expired)
            if tid >= 0 and tid in previous and tid in tracks:
                prev_pos[i], prev_vis[i] = previous[tid]
        feats = skeleton_features(pos, vis, prev_pos, prev_vis)
        live = set()
        for i, tid in enumerate(persons.track_ids.tolist()):
            if tid >= 0:
                previous[tid] = (pos[i], vis[i])
                live.add(tid)
        for tid in [t for t in previous if t not in live and t not in tracks]:
            del previous[tid]
        return feats

    def process(self, packet: FramePacket, state: _ActionStreamState) -> dict[str, Any]:
        persons: Persons = packet.get("persons")
        if len(persons) == 0:
            state.streamer.update([], np.zeros((0, self.cfg.feature_dim), np.float32))  # ages the tracks' state
            return {"persons": replace(persons, action_probs=np.zeros((0, self.cfg.num_classes), np.float32),
                                       action_labels=tuple(self.cfg.classes), action_threshold=self.label_threshold)}
        if self.params.features:
            feats = np.asarray(packet.get(self.params.features), np.float32).reshape(len(persons), -1)
        elif persons.keypoints is None:
            return {"persons": persons}
        else:
            feats = self._skeleton_features(persons, state)
        probs, future = state.streamer.update(persons.track_ids.tolist(), feats)
        return {"persons": replace(persons, action_probs=probs, action_labels=tuple(self.cfg.classes),
                                   action_future=future, action_threshold=self.label_threshold)}

    def describe(self) -> dict:
        return {"checkpoint": str(getattr(self, "checkpoint", "")), "model": f"{self.cfg.kind}-{self.cfg.size}",
                "device": str(self.device), "label_threshold": self.label_threshold} if self.model is not None else {}
