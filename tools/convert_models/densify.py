"""Densifies the sparse MediaPipe detectors so that tf2onnx can read them (run with the project venv: it needs LiteRT).

.venv/bin/python tools/convert_models/densify.py [--originals DIR] [--out .convert-cache/densified] [--images DIR...]
tf2onnx 1.16.1 cannot read DENSIFY ops (sparse fp16 weights). LiteRT runs each model once keeping every tensor; the
dense output of each DENSIFY op becomes a constant buffer that its consumer reads directly, the DENSIFY ops and the
sparse tensors are dropped. A densified model is written only if its outputs are bit-identical to the original's
in LiteRT on real images. convert.py then converts .convert-cache/densified/NAME.tflite.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import flatbuffers
import numpy as np
from ai_edge_litert import interpreter as litert
from ai_edge_litert import schema_py_generated as schema

from convert import ROOT, SPARSE, TFLITE

DATA = Path(os.environ.get("PERCEPT_DATA", ROOT.parent / "shared" / "data"))


def interpreter(model: Path | bytes, keep_all: bool = False) -> litert.Interpreter:
    """Reference kernels only (no XNNPACK delegate), as the parity tests run the originals."""
    source = {"model_path": str(model)} if isinstance(model, Path) else {"model_content": model}
    it = litert.Interpreter(**source, experimental_preserve_all_tensors=keep_all,
                            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def dense_weights(src: Path, tensors: list[int]) -> dict[int, np.ndarray]:
    """DENSIFY reads only constants, so any input gives the dense weights; keep_all stops LiteRT reusing them."""
    it = interpreter(src, keep_all=True)
    x = it.get_input_details()[0]
    it.set_tensor(x["index"], np.zeros(x["shape"], x["dtype"]))
    it.invoke()
    return {i: it.get_tensor(i).copy() for i in tensors}


def prune(model: schema.ModelT) -> None:
    """Drops the tensors, buffers and operator codes that nothing refers to any more (the sparse weights)."""
    graph = model.subgraphs[0]
    ops = graph.operators
    used = sorted({int(i) for op in ops for i in [*op.inputs, *op.outputs] if i >= 0}
                  | {int(i) for i in [*graph.inputs, *graph.outputs]})
    new = {old: k for k, old in enumerate(used)} | {-1: -1}
    graph.tensors = [graph.tensors[i] for i in used]
    graph.inputs, graph.outputs = [new[i] for i in graph.inputs], [new[i] for i in graph.outputs]
    codes = sorted({op.opcodeIndex for op in ops})
    model.operatorCodes = [model.operatorCodes[i] for i in codes]
    for op in ops:
        op.inputs, op.outputs = [new[i] for i in op.inputs], [new[i] for i in op.outputs]
        op.opcodeIndex = codes.index(op.opcodeIndex)
    metadata = model.metadata or []
    metadata_buffers = [] if model.metadataBuffer is None else [int(i) for i in model.metadataBuffer]
    kept = sorted({0} | {t.buffer for t in graph.tensors} | {m.buffer for m in metadata} | set(metadata_buffers))
    new_buffer = {old: k for k, old in enumerate(kept)}  # buffer 0 stays the empty one
    model.buffers = [model.buffers[i] for i in kept]
    for item in [*graph.tensors, *metadata]:
        item.buffer = new_buffer[item.buffer]
    model.metadataBuffer = [new_buffer[i] for i in metadata_buffers] or None


def densify(src: Path) -> bytes:
    """The model with each DENSIFY output stored as a constant: the same bytes LiteRT computes at run time."""
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(src.read_bytes(), 0))
    assert len(model.subgraphs) == 1 and not model.signatureDefs, "expects one subgraph and no signatures"
    graph = model.subgraphs[0]

    def is_densify(op: schema.OperatorT) -> bool:
        code = model.operatorCodes[op.opcodeIndex]
        return max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DENSIFY

    densify_ops = [op for op in graph.operators if is_densify(op)]
    weights = dense_weights(src, [int(op.outputs[0]) for op in densify_ops])
    for i, dense in weights.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(dense.tobytes(), np.uint8)
        graph.tensors[i].buffer = len(model.buffers)
        model.buffers.append(buffer)
    graph.operators = [op for op in graph.operators if not is_densify(op)]
    prune(model)
    builder = flatbuffers.Builder(src.stat().st_size * 2)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def real_images(folders: list[Path], size: int) -> list[np.ndarray]:
    """Centre-cropped, resized photos as (1, size, size, 3) float32 in [-1, 1], the detectors' input range."""
    paths = sorted(p for f in folders for p in f.iterdir() if p.suffix in (".jpg", ".png"))
    if not paths:
        raise SystemExit(f"no .jpg/.png images in {[str(f) for f in folders]} (set PERCEPT_DATA or --images)")
    out = []
    for p in paths:
        img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        h, w = img.shape[:2]
        s = min(h, w)
        crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)[None].astype(np.float32) / 127.5 - 1)
    return out


def assert_identical(original: Path, dense: bytes, images: list[Path]) -> int:
    """Runs both models in LiteRT on every image; any output that differs by one bit is an error."""
    a, b = interpreter(original), interpreter(dense)
    x = a.get_input_details()[0]
    inputs = real_images(images, int(x["shape"][1]))
    for k, image in enumerate(inputs):
        for it in (a, b):
            it.set_tensor(it.get_input_details()[0]["index"], image)
            it.invoke()
        for da, db in zip(a.get_output_details(), b.get_output_details(), strict=True):
            if da["name"] != db["name"] or not np.array_equal(a.get_tensor(da["index"]), b.get_tensor(db["index"])):
                raise SystemExit(f"densified {original.name}: output {da['name']} differs on image {k}")
    return len(inputs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--originals", type=Path, default=ROOT / ".convert-cache" / "originals")
    ap.add_argument("--out", type=Path, default=ROOT / ".convert-cache" / "densified")
    ap.add_argument("--images", type=Path, nargs="+", default=[DATA / "pose" / "coco", DATA / "pose" / "300w"])
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in SPARSE:
        src = args.originals / TFLITE[name]
        dense = densify(src)
        n = assert_identical(src, dense, args.images)
        dst = args.out / f"{name}.tflite"
        dst.write_bytes(dense)
        print(f"OK   {name}: {dst} ({len(dense) / 1e6:.1f} MB), outputs bit-identical to the original on {n} images")


if __name__ == "__main__":
    main()
