"""`online_action`: per tracked person, class probabilities of the current frame (and the anticipated next steps)
from a streaming TRN / OadTR / MLP, all tracks of a frame batched in one call."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from models.action.checkpoint import load_model
from models.action.config import ActionModelConfig
from models.action.features import coco17_subset, keep_joints, normalise_pose, skeleton_features
from models.action.inference import ActionStreamer
from models.runtime.device import device_field, select_device, torch_device
from pipeline.errors import ConfigError, PerceptError
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


@dataclass(frozen=True)
class _LoadedModel:
    """What `process` runs with, swapped as one attribute by `load_checkpoint`: a frame never mixes the config of
    one checkpoint with the weights of another. ``generation`` tells streams to rebuild their state."""

    model: Any
    cfg: ActionModelConfig
    label_threshold: float
    checkpoint: Path
    generation: int


@dataclass
class _ActionStreamState:
    """One stream's memory: the model's per-track state and each track's last normalised pose (for velocity), for
    the model of ``generation``."""

    streamer: ActionStreamer
    previous: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    generation: int = 0


@register_stage
class OnlineActionStage(Stage):
    type_name = "online_action"
    inputs = ("persons.keypoints", "persons.track_ids")
    outputs = ("persons.actions",)
    Params = OnlineActionParams

    def __init__(self, params: OnlineActionParams | None = None) -> None:
        super().__init__(params)
        if self.params.features:
            self.inputs = ("persons.track_ids", self.params.features)
        self._loaded: _LoadedModel | None = None
        self._load_lock = threading.Lock()

    # The current checkpoint's parts, for callers and tests; `process` reads `_loaded` once per frame instead.
    @property
    def model(self):
        return self._loaded.model if self._loaded is not None else None

    @property
    def cfg(self) -> ActionModelConfig:
        return self._loaded.cfg

    @property
    def label_threshold(self) -> float:
        return self._loaded.label_threshold

    @property
    def checkpoint(self) -> Path:
        return self._loaded.checkpoint

    def setup(self, context: StageContext) -> None:
        self.device = torch_device(select_device(self.params.device, context.device))
        self._load(self.params.checkpoint)

    def _resolve(self, checkpoint: str | Path) -> Path:
        """A relative path that does not exist from here is taken under assets/ (as the 'checkpoint' param)."""
        path = Path(checkpoint)
        if not path.is_absolute() and not path.exists():
            path = asset(str(checkpoint))
        return path

    def load_checkpoint(self, path: str | Path) -> Path:
        """Load another checkpoint (e.g. one just taught) on the stage's device and use it from the next frame of
        every stream (their track state restarts); returns the previous checkpoint's path. Raises PerceptError /
        ConfigError and keeps the current model if the checkpoint cannot be used. Only after `setup`."""
        if self._loaded is None:
            raise PerceptError("the online_action stage is not set up yet; load a checkpoint after setup()")
        return self._load(path)

    def _load(self, checkpoint: str | Path) -> Path | None:
        path = self._resolve(checkpoint)
        cfg, model = load_model(path, self.device)
        if not self.params.features and cfg.feature.get("type") != "skeleton":
            raise ConfigError(f"action checkpoint {path} was not trained on skeleton features; set 'features' to "
                              f"the packet key that holds its {cfg.feature_dim}-d features")
        threshold = cfg.label_threshold if self.params.label_threshold is None else self.params.label_threshold
        with self._load_lock:
            previous = self._loaded
            generation = previous.generation + 1 if previous is not None else 0
            self._loaded = _LoadedModel(model, cfg, threshold, path, generation)
        return previous.checkpoint if previous is not None else None

    def _streamer(self, loaded: _LoadedModel) -> ActionStreamer:
        return ActionStreamer(loaded.model, loaded.cfg, self.device, self.params.max_missing_frames)

    def open_stream(self, stream: StreamContext) -> _ActionStreamState:
        loaded = self._loaded
        return _ActionStreamState(self._streamer(loaded), generation=loaded.generation)

    def _skeleton_features(self, persons: Persons, state: _ActionStreamState) -> np.ndarray:
        cfg = state.streamer.cfg  # the stream's model (the frame's snapshot, see `process`)
        kp17 = keep_joints(coco17_subset(persons.keypoints, persons.keypoint_names), cfg.feature.get("joints"))
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
        loaded = self._loaded  # one snapshot for the whole frame
        if state.generation != loaded.generation:  # a checkpoint was hot-loaded: start this stream's tracks afresh
            state.streamer = self._streamer(loaded)
            state.previous.clear()
            state.generation = loaded.generation
        cfg = loaded.cfg
        persons: Persons = packet.get("persons")
        if len(persons) == 0:
            state.streamer.update([], np.zeros((0, cfg.feature_dim), np.float32))  # ages the tracks' state
            return {"persons": replace(persons, action_probs=np.zeros((0, cfg.num_classes), np.float32),
                                       action_labels=tuple(cfg.classes), action_threshold=loaded.label_threshold)}
        if self.params.features:
            feats = np.asarray(packet.get(self.params.features), np.float32).reshape(len(persons), -1)
        elif persons.keypoints is None:
            return {"persons": persons}
        else:
            feats = self._skeleton_features(persons, state)
        probs, future = state.streamer.update(persons.track_ids.tolist(), feats)
        return {"persons": replace(persons, action_probs=probs, action_labels=tuple(cfg.classes),
                                   action_future=future, action_threshold=loaded.label_threshold)}

    def describe(self) -> dict:
        loaded = self._loaded
        if loaded is None:
            return {}
        return {"checkpoint": str(loaded.checkpoint), "model": f"{loaded.cfg.kind}-{loaded.cfg.size}",
                "classes": list(loaded.cfg.classes), "device": str(self.device),
                "label_threshold": loaded.label_threshold}
