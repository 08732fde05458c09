"""Model configuration, saved beside the weights as JSON (checkpoints never pickle)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

ModelKind = Literal["trn", "oadtr", "mlp"]
Size = Literal["paper", "lite"]

# Sizes from the papers (TRN: Xu et al. ICCV 2019, its released code's defaults; OadTR: Wang et al. ICCV 2021)
# and a small "lite" size for skeleton features on a CPU.
_SIZES: dict[tuple[str, str], dict] = {
    ("trn", "paper"): {"hidden": 4096, "future_steps": 8, "window": 64, "dropout": 0.1},
    ("trn", "lite"): {"hidden": 128, "future_steps": 4, "window": 16, "dropout": 0.1},
    ("oadtr", "paper"): {"hidden": 1024, "heads": 8, "encoder_layers": 3, "decoder_layers": 5, "future_steps": 8,
                         "window": 64, "feedforward": 1024, "dropout": 0.1},
    ("oadtr", "lite"): {"hidden": 64, "heads": 4, "encoder_layers": 2, "decoder_layers": 1, "future_steps": 4,
                        "window": 32, "feedforward": 128, "dropout": 0.1},
    ("mlp", "paper"): {"hidden": 1024, "window": 1, "dropout": 0.3},
    ("mlp", "lite"): {"hidden": 128, "window": 1, "dropout": 0.1},
}


@dataclass
class ActionModelConfig:
    kind: str
    size: str
    feature_dim: int
    classes: list[str]  # column 0 is background
    hidden: int = 128
    heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 1
    feedforward: int = 128
    future_steps: int = 4
    window: int = 32
    dropout: float = 0.1
    feature: dict = field(default_factory=dict)  # how the stage builds features (e.g. {"type": "skeleton"})
    # Below this probability the best action is not shown (the model abstains with column 0); calibrated on
    # held-out background by `percept action calibrate`, 0 for a model that always names its best class.
    label_threshold: float = 0.0

    @classmethod
    def create(cls, kind: str, size: str, feature_dim: int, classes: list[str], **overrides) -> "ActionModelConfig":
        if (kind, size) not in _SIZES:
            raise ValueError(f"unknown model {kind!r} / size {size!r}; models: trn, oadtr, mlp; sizes: paper, lite")
        return cls(kind=kind, size=size, feature_dim=feature_dim, classes=list(classes),
                   **{**_SIZES[(kind, size)], **overrides})

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ActionModelConfig":
        return cls(**json.loads(text))

    def save(self, path: Path) -> None:
        path.write_text(self.to_json())

    @classmethod
    def load(cls, path: Path) -> "ActionModelConfig":
        return cls.from_json(path.read_text())
