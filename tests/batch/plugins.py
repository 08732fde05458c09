"""A plugin stage for the batch tests, imported by the worker processes through ``--plugin``: it kills its own
process (SIGKILL: no cleanup, as the OOM killer does) on the named file until a marker file exists.

The marker's path comes from an environment variable, not a parameter: a parameter naming an existing file is
hashed into the config hash, which would then change when the marker appears."""
from __future__ import annotations

import os
import signal
from pathlib import Path

from pipeline.stage import Stage, StageParams


class KillParams(StageParams):
    marker_env: str = "PERCEPT_TEST_KILL_MARKER"  # the variable holding the marker path (created before the kill)
    source_name: str = ""  # only frames of this file ("" = every file)
    always: bool = False  # kill every time (the marker is ignored)
    at_frame: int = 3


class KillOnce(Stage):
    type_name = "kill_once"
    inputs = ("color",)
    outputs = ()
    Params = KillParams

    def process(self, packet, state=None):
        p = self.params
        if packet.seq != p.at_frame or (p.source_name and packet.source_name != p.source_name):
            return {}
        marker = Path(os.environ[p.marker_env])
        if p.always or not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return {}


class ThreadReport(Stage):
    """Writes the worker's thread settings into each result line (key ``budget``)."""

    type_name = "thread_report"
    inputs = ("color",)
    outputs = ("budget",)

    def process(self, packet, state=None):
        import cv2
        import torch

        from models.runtime import onnx

        return {"budget": {"omp": os.environ.get("OMP_NUM_THREADS"), "torch": torch.get_num_threads(),
                           "cv2": cv2.getNumThreads(), "onnx": onnx.DEFAULT_INTRA_OP_THREADS}}
