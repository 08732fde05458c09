"""TRN, OadTR and the per-frame MLP, written from the papers.

All three expose the same two faces:
- ``forward(x)`` on a window ``(B, T, D)`` -> logits for every step ``(B, T, C)`` (training, evaluation) plus the
  anticipated steps' logits;
- a streaming step used frame by frame per track (``step`` for TRN with explicit state; OadTR and the MLP read the
  last ``window`` features, held by the caller in a ring buffer).
"""
from __future__ import annotations


import torch
from torch import nn

from models.action.config import ActionModelConfig


class TRN(nn.Module):
    """Temporal Recurrent Network (Xu et al., ICCV 2019).

    At each step an encoder LSTM cell reads the frame feature together with a summary of the future it anticipated
    at the previous step. From the encoder state, a decoder LSTM rolls out ``future_steps`` steps, classifying each
    and feeding its own scores back; the mean of its hidden states, projected, is that anticipated future. The
    current frame is classified from the encoder state.
    """

    def __init__(self, cfg: ActionModelConfig) -> None:
        super().__init__()
        h, c = cfg.hidden, cfg.num_classes
        self.cfg = cfg
        self.future_size = h
        self.embed = nn.Sequential(nn.Linear(cfg.feature_dim, h), nn.ReLU())
        self.encoder = nn.LSTMCell(h + self.future_size, h)
        self.decoder = nn.LSTMCell(self.future_size, h)
        self.hx_trans = nn.Sequential(nn.Linear(h, h), nn.ReLU())
        self.cx_trans = nn.Sequential(nn.Linear(h, h), nn.ReLU())
        self.fusion = nn.Sequential(nn.Linear(c, self.future_size), nn.ReLU())
        self.future_proj = nn.Sequential(nn.Linear(h, self.future_size), nn.ReLU())
        self.classifier = nn.Linear(h, c)
        self.drop = nn.Dropout(cfg.dropout)

    def initial_state(self, batch: int, device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = torch.zeros(batch, self.cfg.hidden, device=device, dtype=dtype)
        return z, z.clone(), torch.zeros(batch, self.future_size, device=device, dtype=dtype)

    def step(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, future: torch.Tensor):
        """One frame for a batch of streams: x (B,D) -> (logits (B,C), future logits (B,S,C), h, c, future)."""
        h, c = self.encoder(torch.cat([self.drop(self.embed(x)), future], dim=1), (h, c))
        logits = self.classifier(self.drop(h))
        dh, dc = self.hx_trans(h), self.cx_trans(c)
        dec_in = torch.zeros_like(future)
        acc = torch.zeros_like(future)
        future_logits = []
        for _ in range(self.cfg.future_steps):
            dh, dc = self.decoder(self.drop(dec_in), (dh, dc))
            step_logits = self.classifier(self.drop(dh))
            future_logits.append(step_logits)
            acc = acc + dh
            dec_in = self.fusion(step_logits.softmax(dim=1))
        future = self.future_proj(acc / self.cfg.future_steps)
        return logits, torch.stack(future_logits, dim=1), h, c, future

    def forward(self, x: torch.Tensor, state=None):
        b, t, _ = x.shape
        h, c, fut = state if state is not None else self.initial_state(b, x.device, x.dtype)
        logits, futures = [], []
        for i in range(t):
            lg, fl, h, c, fut = self.step(x[:, i], h, c, fut)
            logits.append(lg)
            futures.append(fl)
        return torch.stack(logits, 1), torch.stack(futures, 1)


class StaggeredTRNState:
    """Streaming TRN without drift: two recurrent lanes per stream, reset in turn every ``window`` frames and half a
    window apart; each frame is classified by the lane that has run longer. Every output therefore comes from a
    state that has seen between ``window // 2 + 1`` and ``window`` frames (after the first half window), which is
    the range TRN is trained on (windows of ``window`` frames from a zero state, as in the paper's code). A single
    state carried for minutes drifts out of that range and its accuracy collapses."""

    def __init__(self, model: TRN, batch: int, device=None, dtype=None) -> None:
        self.model = model
        self.window = max(2, model.cfg.window)
        h, c, fut = model.initial_state(2 * batch, device, dtype)
        self.h, self.c, self.future = (t.view(batch, 2, -1) for t in (h, c, fut))
        self.age = torch.zeros(batch, dtype=torch.long, device=device)  # frames seen before this one

    _TENSORS = ("h", "c", "future", "age")

    def _with(self, **tensors: torch.Tensor) -> "StaggeredTRNState":
        out = object.__new__(StaggeredTRNState)
        out.model, out.window = self.model, self.window
        out.__dict__.update(tensors)
        return out

    @staticmethod
    def stack(states: list["StaggeredTRNState"]) -> "StaggeredTRNState":
        """Several streams' states as one batch (one model call for all tracks of a frame)."""
        names = StaggeredTRNState._TENSORS
        return states[0]._with(**{n: torch.cat([getattr(s, n) for s in states]) for n in names})

    def row(self, i: int) -> "StaggeredTRNState":
        """Stream ``i`` of a batch."""
        return self._with(**{n: getattr(self, n)[i:i + 1] for n in self._TENSORS})

    def step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B,D) -> (logits (B,C), future logits (B,S,C)); updates the state."""
        w, half, age = self.window, self.window // 2, self.age
        frames = torch.stack([age % w, torch.where(age >= half, (age - half) % w, torch.full_like(age, -1))], 1)
        keep = (frames != 0)[..., None].to(self.h.dtype)  # lanes at 0 frames start again from zero
        b = x.shape[0]
        h, c, fut = (t * keep for t in (self.h, self.c, self.future))
        logits, future_logits, h, c, fut = self.model.step(x.repeat_interleave(2, 0), h.reshape(2 * b, -1),
                                                          c.reshape(2 * b, -1), fut.reshape(2 * b, -1))
        self.h, self.c, self.future = (t.view(b, 2, -1) for t in (h, c, fut))
        self.age = age + 1
        lane = frames.argmax(1)  # the lane with more frames behind it
        pick = torch.arange(b, device=x.device) * 2 + lane
        return logits[pick], future_logits[pick]


class OadTR(nn.Module):
    """OadTR (Wang et al., ICCV 2021): an encoder over the last T features with a learnable task token, a decoder of
    learnable queries that predicts the next ``future_steps`` steps, and a classifier on the task token's output
    joined with the pooled decoder output."""

    def __init__(self, cfg: ActionModelConfig) -> None:
        super().__init__()
        d, c = cfg.hidden, cfg.num_classes
        self.cfg = cfg
        self.embed = nn.Linear(cfg.feature_dim, d)
        self.task_token = nn.Parameter(torch.zeros(1, 1, d))
        self.position = nn.Parameter(torch.zeros(1, cfg.window + 1, d))
        enc_layer = nn.TransformerEncoderLayer(d, cfg.heads, cfg.feedforward, cfg.dropout, batch_first=True,
                                               norm_first=True)
        self.encoder = nn.TransformerEncoder(enc_layer, cfg.encoder_layers, enable_nested_tensor=False)
        self.enc_norm = nn.LayerNorm(d)
        self.queries = nn.Parameter(torch.zeros(1, cfg.future_steps, d))
        dec_layer = nn.TransformerDecoderLayer(d, cfg.heads, cfg.feedforward, cfg.dropout, batch_first=True,
                                               norm_first=True)
        self.decoder = nn.TransformerDecoder(dec_layer, cfg.decoder_layers)
        self.dec_norm = nn.LayerNorm(d)
        self.future_classifier = nn.Linear(d, c)
        self.classifier = nn.Linear(2 * d, c)
        for p in (self.task_token, self.position, self.queries):
            nn.init.trunc_normal_(p, std=0.02)

    def window_logits(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """window (B,T,D), oldest first, T == cfg.window -> (logits (B,C), future logits (B,S,C))."""
        b = window.shape[0]
        tokens = torch.cat([self.task_token.expand(b, -1, -1), self.embed(window)], dim=1) + self.position
        memory = self.enc_norm(self.encoder(tokens))
        decoded = self.dec_norm(self.decoder(self.queries.expand(b, -1, -1), memory))
        joined = torch.cat([memory[:, 0], decoded.mean(dim=1)], dim=1)
        return self.classifier(joined), self.future_classifier(decoded)

    def forward(self, x: torch.Tensor, state=None):
        """Every step of a sequence (B,T',D): each step sees the T features ending at it (zero-padded before)."""
        windows = sliding_windows(x, self.cfg.window)  # (B*T', T, D)
        b, t = x.shape[:2]
        logits, futures = self.window_logits(windows)
        return logits.view(b, t, -1), futures.view(b, t, self.cfg.future_steps, -1)


class FrameMLP(nn.Module):
    """The baseline with no temporal context: each frame classified alone."""

    def __init__(self, cfg: ActionModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = nn.Sequential(
            nn.Linear(cfg.feature_dim, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.num_classes))

    def window_logits(self, window: torch.Tensor):
        return self.net(window[:, -1]), None

    def forward(self, x: torch.Tensor, state=None):
        return self.net(x), None


def sliding_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B,T,D) -> (B*T, window, D): the window ending at each step, zero-padded at the start."""
    b, t, d = x.shape
    padded = torch.cat([x.new_zeros(b, window - 1, d), x], dim=1)
    return padded.unfold(1, window, 1).permute(0, 1, 3, 2).reshape(b * t, window, d)


def build_model(cfg: ActionModelConfig) -> nn.Module:
    return {"trn": TRN, "oadtr": OadTR, "mlp": FrameMLP}[cfg.kind](cfg)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["TRN", "StaggeredTRNState", "OadTR", "FrameMLP", "build_model", "sliding_windows", "parameter_count"]
