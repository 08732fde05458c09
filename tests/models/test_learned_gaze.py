"""`learned_gaze`: users' ONNX gaze models on face / eye crops. Tiny deterministic torch models, exported to ONNX
here, read brightness contrasts of their crop as angles (yaw = right half - left half, pitch = top - bottom), so a
painted image says what each crop must have been and what the stage must make of the model's answer."""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from models.stages.learned_gaze import LearnedGazeParams, LearnedGazeStage
from models.vision.faces import Faces, angles_of, direction_of, rotation_of
from models.vision.persons import Persons
from pipeline.errors import PerceptError
from pipeline.packet import FramePacket
from pipeline.registry import _registry
from pipeline.stage import StageContext

S = 64  # model input side; face boxes of 64 px with face_scale 1 crop pixel for pixel


class Contrast(nn.Module):
    """(B,2): pitch = kt*mean(top half) - kb*mean(bottom half), yaw = kr*mean(right half) - kl*mean(left half),
    of the channel mean (or one channel); ``order`` "yaw_pitch" swaps the two columns."""

    def __init__(self, k=30.0, kr=None, kl=None, order="pitch_yaw", nhwc=False, channel=None):
        super().__init__()
        self.kt = self.kb = k
        self.kr, self.kl = (k if kr is None else kr), (k if kl is None else kl)
        self.order, self.nhwc, self.channel = order, nhwc, channel

    def forward(self, x):
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        g = x.mean(dim=1) if self.channel is None else x[:, self.channel]
        h, w = g.shape[1] // 2, g.shape[2] // 2
        yaw = self.kr * g[:, :, w:].mean(dim=(1, 2)) - self.kl * g[:, :, :w].mean(dim=(1, 2))
        pitch = self.kt * g[:, :h].mean(dim=(1, 2)) - self.kb * g[:, h:].mean(dim=(1, 2))
        cols = [pitch, yaw] if self.order == "pitch_yaw" else [yaw, pitch]
        return torch.stack(cols, dim=1)


class TwoEyes(nn.Module):
    """Inputs (right_eye, left_eye): yaw = k * (mean(left) - mean(right)), pitch 0."""

    def forward(self, right, left):
        yaw = 30.0 * (left.mean(dim=(1, 2, 3)) - right.mean(dim=(1, 2, 3)))
        return torch.stack([yaw * 0, yaw], dim=1)


class Bins(nn.Module):
    """Two (B,90) outputs of fixed logits (plus 0 x the input)."""

    def __init__(self, yaw_logits, pitch_logits):
        super().__init__()
        self.register_buffer("yaw", torch.tensor(yaw_logits, dtype=torch.float32))
        self.register_buffer("pitch", torch.tensor(pitch_logits, dtype=torch.float32))

    def forward(self, x):
        z = 0 * x.mean(dim=(1, 2, 3))[:, None]
        return self.yaw[None] + z, self.pitch[None] + z


def export(model, path, inputs=("image",), outputs=("gaze",), size=S, dynamic=True, nhwc=False):
    shape = (1, size, size, 3) if nhwc else (1, 3, size, size)
    args = tuple(torch.zeros(shape) for _ in inputs)
    axes = {k: {0: "batch"} for k in (*inputs, *outputs)} if dynamic else None
    with warnings.catch_warnings():  # the TorchScript exporter (dynamo=False) is deprecated, and works
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model.eval(), args, str(path), input_names=list(inputs), output_names=list(outputs),
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    return path


def stage_for(path, **params):
    base = dict(model=str(path), input_size=S, face_scale=1.0, mean=[0, 0, 0], std=[255, 255, 255], units="deg",
                device="cpu")
    base.update(params)
    stage = LearnedGazeStage(LearnedGazeParams(**base))
    stage.setup(StageContext("gaze", device="cpu"))
    return stage


def box_at(x0, y0, side=S):
    return [x0, y0, x0 + side, y0 + side]


def packet_with(image, faces: Faces | None, n=None):
    n = len(faces) if faces is not None else n
    boxes = np.array([[10 + 100 * i, 10, 90 + 100 * i, 300] for i in range(n)], np.float32)
    packet = FramePacket(seq=0, timestamp=0, color=image)
    packet.data["persons"] = Persons(boxes, np.full(n, 0.9), faces=faces)
    return packet


def faces_of(boxes, found=None, **fields):
    n = len(boxes)
    found = np.ones(n, bool) if found is None else np.asarray(found, bool)
    return Faces(found, np.array(boxes, np.float32), np.where(found, 0.9, np.nan), **fields)


def blank(h=480, w=640):
    return np.zeros((h, w, 3), np.uint8)


def counting(stage):
    calls = []
    run = stage.model.run

    def wrapped(feeds):
        calls.append({k: v.shape for k, v in feeds.items()})
        return run(feeds)

    stage.model.run = wrapped
    return calls


@pytest.fixture(scope="module")
def contrast_model(tmp_path_factory):
    return export(Contrast(), tmp_path_factory.mktemp("m") / "contrast.onnx")


def test_registered():
    assert _registry["learned_gaze"] is LearnedGazeStage
    assert LearnedGazeStage.inputs == ("color", "persons.faces")
    assert LearnedGazeStage.outputs == ("persons.faces", "persons.faces.gaze")
    assert LearnedGazeStage.stateless


@pytest.mark.parametrize("yaw_sign,pitch_sign", [(1, 1), (-1, 1), (1, -1)])
def test_face_crop_angles_follow_the_configured_signs(contrast_model, yaw_sign, pitch_sign):
    img = blank()
    img[100:164, 132:164] = 255  # face 0: right half of its box bright -> model yaw +30
    img[100:132, 300:364] = 255  # face 1: top half bright -> model pitch +30
    faces = faces_of([box_at(100, 100), box_at(300, 100)])
    stage = stage_for(contrast_model, yaw_sign=yaw_sign, pitch_sign=pitch_sign)
    out = stage.process(packet_with(img, faces))["persons"].faces
    np.testing.assert_allclose(out.gaze[0], direction_of(30.0 * yaw_sign, 0.0), atol=1e-5)
    np.testing.assert_allclose(out.gaze[1], direction_of(0.0, 30.0 * pitch_sign), atol=1e-5)
    assert np.sign(out.gaze[0, 0]) == yaw_sign  # yaw > 0: toward the camera's +x
    assert np.sign(-out.gaze[1, 1]) == pitch_sign  # pitch > 0: up, -y
    np.testing.assert_allclose(angles_of(out.gaze), [[30 * yaw_sign, 0], [0, 30 * pitch_sign]], atol=1e-3)


def test_radians_and_yaw_pitch_order(tmp_path):
    path = export(Contrast(k=0.5, order="yaw_pitch"), tmp_path / "yp.onnx")
    img = blank()
    img[100:164, 132:164] = 255
    img[100:132, 300:364] = 255
    faces = faces_of([box_at(100, 100), box_at(300, 100)])
    out = stage_for(path, output="yaw_pitch", units="rad").process(packet_with(img, faces))["persons"].faces
    deg = np.degrees(0.5)
    np.testing.assert_allclose(angles_of(out.gaze), [[deg, 0], [0, deg]], atol=1e-3)


def test_all_faces_in_one_call_results_in_their_rows(contrast_model):
    img = blank()
    img[100:164, 132:164] = 255  # row 0: right bright -> yaw +30
    img[100:132, 300:364] = 255  # row 1: top bright -> pitch +30
    img[300:364, 100:132] = 255  # row 3: left bright -> yaw -30
    boxes = [box_at(100, 100), box_at(300, 100), [np.nan] * 4, box_at(100, 300)]
    origin = np.full((4, 3), np.nan)
    origin[0] = [0.1, -0.2, 1.5]
    target_px = np.full((4, 2), 7.0)
    old_gaze = np.tile([0.0, 0.0, -1.0], (4, 1))
    old_gaze[2] = np.nan
    faces = faces_of(boxes, found=[True, True, False, True], gaze_origin_3d=origin, gaze_target_px=target_px,
                     gaze=old_gaze)
    stage = stage_for(contrast_model)
    calls = counting(stage)
    packet = packet_with(img, faces)
    persons = stage.process(packet)["persons"]
    out = persons.faces
    assert calls == [{"image": (3, 3, S, S)}]
    np.testing.assert_allclose(out.gaze[0], direction_of(30.0, 0.0), atol=1e-5)
    np.testing.assert_allclose(out.gaze[1], direction_of(0.0, 30.0), atol=1e-5)
    np.testing.assert_allclose(out.gaze[3], direction_of(-30.0, 0.0), atol=1e-5)
    assert np.isnan(out.gaze[2]).all()  # found False stays NaN
    np.testing.assert_array_equal(out.gaze_origin_3d, faces.gaze_origin_3d)  # kept as it was
    assert np.isnan(out.gaze_target_px[[0, 1, 3]]).all()  # a target of the older gaze no longer applies
    np.testing.assert_array_equal(persons.boxes, packet.data["persons"].boxes)
    assert packet.data["persons"].faces.gaze[0, 2] == -1.0  # the input was not written into
    rec = out.row_json(0)
    assert rec["gaze"]["yaw"] == pytest.approx(30.0, abs=0.01) and rec["gaze"]["origin_3d"] == [0.1, -0.2, 1.5]


def test_fixed_batch_model_runs_face_by_face(tmp_path, contrast_model):
    fixed = export(Contrast(), tmp_path / "fixed.onnx", dynamic=False)
    img = blank()
    img[100:164, 132:164] = 255
    img[100:132, 300:364] = 255
    faces = faces_of([box_at(100, 100), box_at(300, 100), box_at(100, 300)])
    stage = stage_for(fixed)
    assert stage.fixed_batch == 1
    calls = counting(stage)
    got = stage.process(packet_with(img, faces))["persons"].faces.gaze
    assert calls == [{"image": (1, 3, S, S)}] * 3
    want = stage_for(contrast_model).process(packet_with(img, faces))["persons"].faces.gaze
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got[2], [0, 0, -1], atol=1e-6)


def test_nhwc_and_bgr(tmp_path):
    path = export(Contrast(nhwc=True, channel=0), tmp_path / "nhwc.onnx", nhwc=True)
    img = blank()
    img[100:164, 132:164, 0] = 255  # red on the right half
    faces = faces_of([box_at(100, 100)])
    rgb = stage_for(path, layout="NHWC").process(packet_with(img, faces))["persons"].faces
    bgr = stage_for(path, layout="NHWC", color="BGR").process(packet_with(img, faces))["persons"].faces
    np.testing.assert_allclose(rgb.gaze[0], direction_of(30.0, 0.0), atol=1e-5)  # channel 0 is red
    np.testing.assert_allclose(bgr.gaze[0], direction_of(0.0, 0.0), atol=1e-5)  # channel 0 is blue: dark


def test_l2cs_bins_decoding(tmp_path):
    yaw, pitch = np.zeros(90), np.zeros(90)
    yaw[[50, 51]] = 60.0  # two equal peaks: the expectation is between them, 50.5 * 4 - 180 = 22 degrees
    pitch[40] = 60.0  # 40 * 4 - 180 = -20 degrees
    path = export(Bins(yaw, pitch), tmp_path / "l2cs.onnx", outputs=("yaw_bins", "pitch_bins"))
    img = blank()
    faces = faces_of([box_at(100, 100), box_at(300, 100)])
    common = dict(output="l2cs_bins", yaw_sign=-1)
    out = stage_for(path, **common).process(packet_with(img, faces))["persons"].faces
    np.testing.assert_allclose(angles_of(out.gaze), [[-22.0, -20.0]] * 2, atol=1e-3)
    named = stage_for(path, yaw_output="yaw_bins", pitch_output="pitch_bins", **common)
    np.testing.assert_allclose(named.process(packet_with(img, faces))["persons"].faces.gaze, out.gaze, atol=1e-6)
    swapped = stage_for(path, yaw_output=1, pitch_output=0, **common).process(packet_with(img, faces))
    np.testing.assert_allclose(angles_of(swapped["persons"].faces.gaze), [[20.0, 22.0]] * 2, atol=1e-3)
    with pytest.raises(PerceptError, match="no output 'yaw'"):
        stage_for(path, yaw_output="yaw", **common)


def test_head_frame_rotates_by_the_head_rotation(contrast_model):
    img = blank()  # uniform crops: the model says 0/0, straight out of the face in the head frame
    rot = np.full((3, 3, 3), np.nan)
    rot[0] = rotation_of(90.0, 0.0, 0.0)  # head turned fully toward the camera's +x
    rot[1] = np.eye(3)
    faces = faces_of([box_at(100, 100), box_at(300, 100), box_at(100, 300)], head_rotation=rot)
    out = stage_for(contrast_model, frame="head").process(packet_with(img, faces))["persons"].faces
    np.testing.assert_allclose(out.gaze[0], direction_of(90.0, 0.0), atol=1e-5)
    np.testing.assert_allclose(out.gaze[0], [1, 0, 0], atol=1e-5)
    np.testing.assert_allclose(out.gaze[1], [0, 0, -1], atol=1e-5)
    assert np.isnan(out.gaze[2]).all()  # no head rotation: no gaze
    cam = stage_for(contrast_model).process(packet_with(img, faces))["persons"].faces
    np.testing.assert_allclose(cam.gaze, np.tile([0.0, 0.0, -1.0], (3, 1)), atol=1e-5)


def test_normalized_frame_turns_the_crop_and_the_answer_with_the_head_roll(contrast_model):
    """Head rolled 90 degrees (its x axis along the camera's +y): the crop is turned so that the image's lower
    half is the crop's right half, and the model's "toward the crop's right" comes back as downward."""
    img = blank()
    img[132:172, 92:172] = 255  # below the centre of the face box at (100, 100)
    rot = np.stack([rotation_of(0.0, 0.0, 90.0), rotation_of(0.0, 0.0, 90.0)])
    trans = np.array([[0.0, 0.0, 1.0], [np.nan] * 3])
    faces = faces_of([box_at(100, 100), box_at(300, 100)], head_rotation=rot, head_translation=trans)
    out = stage_for(contrast_model, frame="normalized").process(packet_with(img, faces))["persons"].faces
    np.testing.assert_allclose(out.gaze[0], direction_of(0.0, -30.0), atol=1e-4)
    assert np.isnan(out.gaze[1]).all()  # no face centre: no normalisation
    # (an unturned crop would give pitch -30 in the normalised frame, i.e. yaw -30 in the camera's; a turned crop
    # without the normalisation rotation, yaw +30)


def eye_faces(centres, spans, iris=None, found=None):
    """Faces whose mesh has only the eye corners: per face (right centre, left centre) and corner distances."""
    n = len(centres)
    lm = np.full((n, 468, 3), np.nan)
    for i, ((r, l), span) in enumerate(zip(centres, spans)):
        for (a, b), (cx, cy) in zip(((33, 133), (362, 263)), (r, l)):
            lm[i, a] = [cx - span / 2, cy, 0]
            lm[i, b] = [cx + span / 2, cy, 0]
    boxes = [box_at(c[0][0] - 20, c[0][1] - 30, 100) for c in centres]
    return faces_of(boxes, found=found, landmarks=lm, iris=iris)


def test_eye_crops_batched_one_gaze_per_eye(tmp_path):
    path = export(Contrast(), tmp_path / "eye.onnx", size=32)
    img = blank()
    # face 0: right eye at (200, 100) bright on its right half; left eye at (260, 100) bright on its top half
    img[84:116, 200:216] = 255
    img[84:100, 244:276] = 255
    # face 1: right eye's iris 40 px right of its corners' middle (300, 300), bright right of the iris;
    # its left eye has no iris: the corners' middle (400, 300), dark
    img[284:316, 340:356] = 255
    iris = np.full((3, 2, 2), np.nan)
    iris[1, 0] = [340, 300]
    faces = eye_faces([((200, 100), (260, 100)), ((300, 300), (400, 300)), ((100, 400), (160, 400))],
                      [16, 16, 16], iris=iris)
    faces = replace_landmarks_nan(faces, 2)  # face 2: found but no mesh -> no eye crops, NaN
    stage = stage_for(path, crop="eyes", eye_scale=2.0, input_size=32)
    calls = counting(stage)
    out = stage.process(packet_with(img, faces))["persons"].faces
    assert calls == [{"image": (4, 3, 32, 32)}]
    np.testing.assert_allclose(out.eye_gaze[0, 0], direction_of(30.0, 0.0), atol=1e-5)
    np.testing.assert_allclose(out.eye_gaze[0, 1], direction_of(0.0, 30.0), atol=1e-5)
    both = direction_of(30.0, 0.0) + direction_of(0.0, 30.0)
    np.testing.assert_allclose(out.gaze[0], both / np.linalg.norm(both), atol=1e-5)
    np.testing.assert_allclose(out.eye_gaze[1, 0], direction_of(30.0, 0.0), atol=1e-5)  # centred on the iris
    np.testing.assert_allclose(out.eye_gaze[1, 1], [0, 0, -1], atol=1e-5)
    assert np.isnan(out.gaze[2]).all() and np.isnan(out.eye_gaze[2]).all()


def replace_landmarks_nan(faces: Faces, row: int) -> Faces:
    lm = faces.landmarks.copy()
    lm[row] = np.nan
    return replace(faces, landmarks=lm)


def test_flip_left_mirrors_the_left_eye_and_its_yaw(tmp_path):
    path = export(Contrast(kr=30.0, kl=0.0), tmp_path / "right_only.onnx", size=32)  # yaw from the right half
    img = blank()
    img[84:116, 244:260] = 255  # left eye at (260, 100): bright on the left half of its crop
    faces = eye_faces([((200, 100), (260, 100))], [16])
    plain = stage_for(path, crop="eyes", eye_scale=2.0, input_size=32).process(packet_with(img, faces))
    np.testing.assert_allclose(plain["persons"].faces.eye_gaze[0, 1], [0, 0, -1], atol=1e-5)
    flipped = stage_for(path, crop="eyes", eye_scale=2.0, input_size=32, flip_left=True)
    got = flipped.process(packet_with(img, faces))["persons"].faces
    np.testing.assert_allclose(got.eye_gaze[0, 1], direction_of(-30.0, 0.0), atol=1e-5)
    np.testing.assert_allclose(got.eye_gaze[0, 0], [0, 0, -1], atol=1e-5)


def test_two_eye_inputs_get_the_right_eyes(tmp_path):
    path = export(TwoEyes(), tmp_path / "two.onnx", inputs=("right_eye", "left_eye"), size=32)
    img = blank()
    img[84:116, 244:276] = 255  # the person's left eye (at 260, 100) fully bright, the right one dark
    faces = eye_faces([((200, 100), (260, 100))], [16])
    stage = stage_for(path, crop="eyes", eye_scale=2.0, input_size=32, left_input="left_eye",
                      right_input="right_eye")
    calls = counting(stage)
    out = stage.process(packet_with(img, faces))["persons"].faces
    assert calls == [{"right_eye": (1, 3, 32, 32), "left_eye": (1, 3, 32, 32)}]
    np.testing.assert_allclose(out.gaze[0], direction_of(30.0, 0.0), atol=1e-5)
    assert out.eye_gaze is None
    with pytest.raises(PerceptError, match="no input 'left'"):
        stage_for(path, crop="eyes", input_size=32, left_input="left", right_input="right_eye")
    with pytest.raises(PerceptError, match="feeds only"):
        stage_for(path, crop="eyes", input_size=32)  # two inputs but none named


def test_model_shape_mismatch_is_a_clear_error(contrast_model):
    with pytest.raises(PerceptError, match="set input_size to 64"):
        stage_for(contrast_model, input_size=32)
    with pytest.raises(PerceptError, match="layout"):
        stage_for(contrast_model, layout="NHWC")


@pytest.mark.parametrize("bad,field", [({"output": "bins"}, "output"), ({"yaw_sign": 2}, "yaw_sign"),
                                       ({"crop": "nose"}, "crop"), ({"frame": "world"}, "frame"),
                                       ({"std": [1, 0, 1]}, "std"), ({"mean": [0, 0]}, "mean"),
                                       ({"crop": "eyes", "left_input": "l"}, "right_input"),
                                       ({"left_input": "l", "right_input": "r"}, "crop: eyes"),
                                       ({"colour": "RGB"}, "colour")])
def test_bad_params_are_pydantic_errors(bad, field):
    with pytest.raises(ValidationError, match=field):
        LearnedGazeParams(model="m.onnx", **bad)
    with pytest.raises(ValidationError, match="model"):
        LearnedGazeParams()


def test_persons_without_faces_pass_through(contrast_model):
    stage = stage_for(contrast_model)
    calls = counting(stage)
    for packet in (packet_with(blank(), None, n=2), packet_with(blank(), Faces.none_found(2)),
                   packet_with(blank(), None, n=0)):
        assert stage.process(packet)["persons"] is packet.data["persons"]
    assert calls == []
