"""User-model families through config: decoding of YOLO (detect, pose), RTMDet and RTMPose SimCC outputs, checked
with small ONNX models built here that emit known tensors in those layouts."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.stages.generic_models import RtmdetParams, RtmdetStage, RtmposeParams, RtmposeStage, YoloParams, \
    YoloStage
from models.vision.decoders import decode_simcc
from pipeline.packet import FramePacket
from models.vision.persons import Persons
from pipeline.stage import StageContext


def constant_model(path, input_shape, outputs: dict[str, np.ndarray]):
    """A model with one image input whose outputs are fixed tensors (plus 0 x the input, so the input is used)."""
    nodes, outs, inits = [], [], []
    nodes.append(helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0))
    nodes.append(helper.make_node("Mul", ["m", "zero"], ["z"]))
    inits.append(numpy_helper.from_array(np.array(0, np.float32), "zero"))
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_c"))
        nodes.append(helper.make_node("Add", [f"{name}_c", "z"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
                              outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def packet(w=1280, h=720):
    return FramePacket(seq=0, timestamp=0, color=np.zeros((h, w, 3), np.uint8))


def test_yolo_detect_decoding_with_letterbox_and_class_aware_nms(tmp_path):
    # 640 input; a 1280x720 frame is scaled by 0.5 and padded by 140 px at the top
    preds = np.zeros((1, 4 + 3, 4), np.float32)
    preds[0, :, 0] = [320, 320, 100, 100, 0.9, 0.0, 0.0]  # class 0
    preds[0, :, 1] = [322, 320, 100, 100, 0.8, 0.0, 0.0]  # duplicate of the first: suppressed
    preds[0, :, 2] = [322, 320, 100, 100, 0.0, 0.0, 0.7]  # same place, class 2: kept
    preds[0, :, 3] = [100, 200, 50, 60, 0.1, 0.0, 0.0]  # below threshold
    path = constant_model(tmp_path / "y.onnx", [1, 3, 640, 640], {"output0": preds})
    stage = YoloStage(YoloParams(model=str(path), class_names=["person", "bicycle", "car"]))
    stage.setup(StageContext("y"))
    assert stage.outputs == ("objects",)
    objects = stage.process(packet())["objects"]
    assert len(objects) == 2 and objects.to_json()[0]["label"] == "person"
    np.testing.assert_allclose(objects.boxes[0], [(270) * 2, (270 - 140) * 2, 370 * 2, (370 - 140) * 2], atol=1e-3)


def test_yolo_pose_decoding(tmp_path):
    preds = np.zeros((1, 5 + 51, 2), np.float32)
    preds[0, :5, 0] = [320, 320, 200, 400, 0.95]
    kps = np.stack([np.linspace(250, 390, 17), np.linspace(150, 500, 17), np.full(17, 0.9)], 1)
    preds[0, 5:, 0] = kps.reshape(-1)
    path = constant_model(tmp_path / "p.onnx", [1, 3, 640, 640], {"output0": preds})
    stage = YoloStage(YoloParams(model=str(path), task="pose"))
    stage.setup(StageContext("y"))
    persons = stage.process(packet(640, 640))["persons"]
    assert len(persons) == 1 and persons.keypoint_names[0] == "nose"
    np.testing.assert_allclose(persons.keypoints[0, :, :2], kps[:, :2], atol=1e-3)


def test_simcc_decoding():
    sx, sy = np.zeros((1, 2, 384)), np.zeros((1, 2, 512))
    sx[0, 0, 101], sy[0, 0, 301] = 0.9, 0.8
    sx[0, 1, 10] = 0.5  # y peak of keypoint 1 is 0: no keypoint
    k = decode_simcc(sx, sy)
    np.testing.assert_allclose(k[0, 0], [50.5, 150.5, 0.8])
    assert k[0, 1, 2] == 0 and k[0, 1, 0] == 0


def test_rtmpose_maps_keypoints_back_through_the_box_crop(tmp_path):
    sx, sy = np.zeros((1, 17, 384), np.float32), np.zeros((1, 17, 512), np.float32)
    sx[0, :, 192], sy[0, :, 256] = 1.0, 1.0  # every keypoint at the crop centre (96, 128)
    path = constant_model(tmp_path / "r.onnx", ["batch", 3, 256, 192], {"simcc_x": sx, "simcc_y": sy})
    stage = RtmposeStage(RtmposeParams(model=str(path)))
    stage.setup(StageContext("r"))
    pk = packet(400, 300)
    pk.data["persons"] = Persons(np.array([[100, 50, 200, 250]]), np.array([0.9]))
    out = stage.process(pk)["persons"]
    np.testing.assert_allclose(out.keypoints[0, :, :2], np.tile([150, 150], (17, 1)), atol=1e-3)
    pk.data["persons"] = Persons.empty()  # nobody: the field is still written, so its readers run
    empty = stage.process(pk)["persons"]
    assert empty.keypoints.shape == (0, 17, 3) and len(empty.keypoint_names) == 17


def test_rtmdet_keeps_confident_people(tmp_path):
    dets = np.array([[[10, 10, 110, 210, 0.9], [0, 0, 5, 5, 0.1], [50, 50, 60, 60, 0.8]]], np.float32)
    labels = np.array([[0, 0, 3]], np.float32)
    path = constant_model(tmp_path / "d.onnx", [1, 3, 640, 640], {"dets": dets, "labels": labels})
    stage = RtmdetStage(RtmdetParams(model=str(path)))
    stage.setup(StageContext("d"))
    persons = stage.process(packet(640, 640))["persons"]
    assert len(persons) == 1
    np.testing.assert_allclose(persons.boxes[0], [10, 10, 110, 210])
