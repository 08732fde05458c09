"""Online inference over whole videos (evaluation) and per-track streaming (the stage)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from models.action.config import ActionModelConfig
from models.action.nets import StaggeredTRNState, sliding_windows


@torch.inference_mode()
def predict_videos(model, cfg: ActionModelConfig, videos: list[np.ndarray], device: torch.device,
                   chunk: int = 2048) -> list[np.ndarray]:
    """Class probabilities (T,C) per video, computed online: frame t sees only frames <= t."""
    model.eval()
    out = []
    if cfg.kind == "trn":  # all videos as one batch, stepped frame by frame with state carried
        lengths = [len(v) for v in videos]
        x = torch.zeros(len(videos), max(lengths), cfg.feature_dim, device=device)
        for i, v in enumerate(videos):
            x[i, :len(v)] = torch.from_numpy(v).to(device)
        state = StaggeredTRNState(model, len(videos), device)
        probs = []
        for t in range(x.shape[1]):
            logits, _ = state.step(x[:, t])
            probs.append(logits.softmax(-1))
        p = torch.stack(probs, 1).cpu().numpy()
        return [p[i, :n] for i, n in enumerate(lengths)]
    for v in videos:
        x = torch.from_numpy(v).to(device)[None]
        if cfg.kind == "oadtr":
            windows = sliding_windows(x, cfg.window)
            parts = [model.window_logits(windows[i:i + chunk])[0] for i in range(0, len(windows), chunk)]
            out.append(torch.cat(parts).softmax(-1).cpu().numpy())
        else:
            out.append(model(x)[0][0].softmax(-1).cpu().numpy())
    return out


@dataclass
class _TrackState:
    last_seen: int
    window: np.ndarray | None = None  # OadTR / MLP ring buffer (W, D), oldest first
    filled: int = 0
    trn: StaggeredTRNState | None = None  # TRN
    extra: dict = field(default_factory=dict)


class ActionStreamer:
    """Per-track streaming state for one model. ``update`` takes the features of all tracks present in a frame,
    runs one batched step, and returns their class probabilities (and anticipated future probabilities)."""

    def __init__(self, model, cfg: ActionModelConfig, device: torch.device, max_missing: int = 30) -> None:
        self.model, self.cfg, self.device = model.eval(), cfg, device
        self.max_missing = max_missing
        self.tracks: dict[int, _TrackState] = {}
        self.frame = 0

    @torch.inference_mode()
    def update(self, track_ids: list[int], features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        self.frame += 1
        n = len(track_ids)
        if n == 0:
            self._expire()
            return np.zeros((0, self.cfg.num_classes), np.float32), None
        states = [self._state(tid) for tid in track_ids]
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).to(self.device)
        if self.cfg.kind == "trn":
            batch = StaggeredTRNState.stack([s.trn for s in states])
            logits, future_logits = batch.step(x)
            for i, s in enumerate(states):
                s.trn = batch.row(i)
        else:
            for i, s in enumerate(states):
                s.window = np.roll(s.window, -1, axis=0)
                s.window[-1] = features[i]
                s.filled += 1
            windows = torch.from_numpy(np.stack([s.window for s in states])).to(self.device)
            logits, future_logits = self.model.window_logits(windows)
        self._expire()
        probs = logits.softmax(-1).float().cpu().numpy()
        future = future_logits.softmax(-1).float().cpu().numpy() if future_logits is not None else None
        return probs, future

    def _state(self, track_id: int) -> _TrackState:
        state = self.tracks.get(track_id) if track_id >= 0 else None
        if state is None:
            state = _TrackState(self.frame)
            if self.cfg.kind == "trn":
                state.trn = StaggeredTRNState(self.model, 1, self.device)
            else:
                state.window = np.zeros((max(self.cfg.window, 1), self.cfg.feature_dim), np.float32)
            if track_id >= 0:
                self.tracks[track_id] = state
        state.last_seen = self.frame
        return state

    def _expire(self) -> None:
        for tid in [t for t, s in self.tracks.items() if self.frame - s.last_seen > self.max_missing]:
            del self.tracks[tid]
