"""`learned_gaze`: a user's own appearance-based gaze model (ONNX) on each person's face or eye crops, e.g. an
L2CS-Net or ETH-XGaze export. Crops in, pitch/yaw out; the angles are mapped to this project's convention (see
``models.vision.faces``) by parameters, and written to ``faces.gaze`` (and ``faces.eye_gaze`` for per-eye models).

All faces of a frame go through the model in one batched call (a model exported with a fixed batch is run in
chunks of that batch, the last one padded). See docs/learned_gaze.md for the settings of known model families.

Crops:
- ``face``: a square around ``faces.boxes`` (long side x ``face_scale``).
- ``eyes``: two squares per face, centred on the iris centres (``faces.iris``; where missing, the middle of the eye
  corners, mesh landmarks 33/133 for the right eye and 362/263 for the left), side ``eye_scale`` x the corner
  distance, so the mesh landmarks are needed. With ``left_input`` and ``right_input`` set, the model takes the two
  crops as two inputs of those names and gives one gaze per face; otherwise its single input gets all eyes in one
  batch (right eye, left eye, per face, in person order), one gaze per eye: ``faces.eye_gaze`` gets them and
  ``faces.gaze`` their normalised mean.

Frames of the model's angles:
- ``camera``: angles relative to the colour camera (0/0 = looking back at the camera).
- ``head``: angles in the head frame of ``faces.head_rotation`` (0/0 = straight out of the face), rotated into
  the camera frame; rows without a head rotation get NaN.
- ``normalized``: angles in the data-normalisation frame of Zhang et al. (ETH-XGaze, MPIIFaceGaze): a virtual
  camera looking at the face centre with its x axis along the head's x axis (the head's roll removed); the crop is
  rotated by the same roll. Needs the head rotation and a face centre (``gaze_origin_3d``, else
  ``head_translation``); rows without them get NaN. The perspective warp of the real normalisation is
  approximated by the rotated square crop.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from models.runtime.device import device_field
from models.runtime.onnx import load_stage_model
from models.vision.faces import Faces, direction_of
from models.vision.persons import Persons
from models.vision.roi import Roi, crop_batch
from pipeline.errors import PerceptError
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageContext, StageParams

EYE_CORNERS = ((33, 133), (362, 263))  # face mesh landmarks, indexed like Faces eyes: 0 right, 1 left
IMAGENET_MEAN = [123.675, 116.28, 103.53]  # RGB, pixel units (0.485, 0.456, 0.406 x 255)
IMAGENET_STD = [58.395, 57.12, 57.375]


class LearnedGazeParams(StageParams):
    model: str = Field(description="path to the ONNX gaze model (or a manifest name)")
    crop: Literal["face", "eyes"] = Field(default="face", description="face: one square face crop per person; "
                                          "eyes: two square eye crops per person (needs the face mesh)")
    face_scale: float = Field(default=1.1, gt=0.5, le=3.0, description="face crop side / long side of the face box")
    eye_scale: float = Field(default=1.6, gt=0.5, le=5.0, description="eye crop side / distance of the eye corners")
    left_input: str | None = Field(default=None, description="eyes: the model input that takes the person's left "
                                   "eye (set together with right_input); unset: one input, all eyes batched")
    right_input: str | None = Field(default=None, description="eyes: the model input that takes the right eye")
    flip_left: bool = Field(default=False, description="eyes: mirror the left-eye crop (for models trained on "
                            "right eyes); with batched eyes its yaw is mirrored back")
    input_size: int = Field(default=224, ge=8, le=2048, description="side of the square model input (L2CS 448, "
                                                                     "ETH-XGaze 224)")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    color: Literal["RGB", "BGR"] = Field(default="RGB", description="channel order the model expects")
    mean: list[float] = Field(default_factory=lambda: list(IMAGENET_MEAN), min_length=3, max_length=3,
                              description="per channel, pixel units 0-255, in the model's channel order (reverse "
                                          "the ImageNet default for BGR); input = (pixel - mean) / std")
    std: list[float] = Field(default_factory=lambda: list(IMAGENET_STD), min_length=3, max_length=3,
                             description="per channel, pixel units; [255, 255, 255] with mean 0 gives [0, 1]")
    output: Literal["pitch_yaw", "yaw_pitch", "l2cs_bins"] = Field(
        default="pitch_yaw", description="pitch_yaw | yaw_pitch: one (B,2) output in that order; l2cs_bins: two "
                                         "(B,bins) logit outputs, angle = sum(softmax * bin index) * bin_width "
                                         "+ bin_offset (degrees)")
    gaze_output: int | str = Field(default=0, description="pitch_yaw / yaw_pitch: index or name of the output")
    yaw_output: int | str = Field(default=0, description="l2cs_bins: index or name of the yaw (horizontal) "
                                  "output; L2CS-Net's first output")
    pitch_output: int | str = Field(default=1, description="l2cs_bins: index or name of the pitch output")
    bin_width: float = Field(default=4.0, gt=0, description="l2cs_bins: degrees per bin (L2CS Gaze360: 4)")
    bin_offset: float = Field(default=-180.0, description="l2cs_bins: angle of bin 0 (L2CS Gaze360: -180)")
    bin_softmax: bool = Field(default=True, description="l2cs_bins: the outputs are logits (False: already "
                                                        "probabilities)")
    units: Literal["deg", "rad"] = Field(default="rad", description="pitch_yaw / yaw_pitch output units "
                                                                    "(l2cs_bins decode to degrees)")
    yaw_sign: Literal[-1, 1] = Field(default=1, description="-1 if the model's yaw grows toward the camera's -x "
                                                             "(the person's right as seen facing the camera)")
    pitch_sign: Literal[-1, 1] = Field(default=1, description="-1 if the model's pitch grows downward (+y)")
    frame: Literal["camera", "head", "normalized"] = Field(
        default="camera", description="frame of the model's angles: camera; head (rotated by the head rotation); "
                                      "normalized (ETH-XGaze's data normalisation)")
    device: str = device_field()

    @field_validator("std")
    @classmethod
    def _std_nonzero(cls, v: list[float]) -> list[float]:
        if any(s == 0 for s in v):
            raise ValueError("std must not contain 0")
        return v

    @model_validator(mode="after")
    def _eye_inputs(self) -> "LearnedGazeParams":
        if (self.left_input is None) != (self.right_input is None):
            raise ValueError("set both left_input and right_input (two eye inputs), or neither (eyes batched)")
        if self.left_input is not None and self.crop != "eyes":
            raise ValueError("left_input / right_input apply to crop: eyes only")
        if self.left_input is not None and self.left_input == self.right_input:
            raise ValueError("left_input and right_input must name different model inputs")
        return self


def _softmax_expectation(logits: np.ndarray, softmax: bool) -> np.ndarray:
    """(m, bins) -> (m,) expected bin index."""
    x = np.asarray(logits, np.float64)
    if softmax:
        x = np.exp(x - x.max(axis=1, keepdims=True))
    p = x / x.sum(axis=1, keepdims=True)
    return p @ np.arange(x.shape[1], dtype=np.float64)


def _unit(v: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / np.linalg.norm(v, axis=-1, keepdims=True)


def normalization_rotations(head_rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(n,3,3) rotations camera -> normalised camera (rows right, down, forward), as in ETH-XGaze's
    ``normalizeData_face``: forward toward the face centre, down = forward x head x axis. NaN where degenerate."""
    forward = _unit(np.asarray(centre, np.float64))
    down = _unit(np.cross(forward, np.asarray(head_rotation, np.float64)[:, :, 0]))
    right = _unit(np.cross(down, forward))
    return np.stack([right, down, forward], axis=1)


@register_stage
class LearnedGazeStage(Stage):
    """persons (with faces) -> persons whose found faces have ``gaze`` from the model."""

    type_name = "learned_gaze"
    inputs = ("color", "persons.faces")
    outputs = ("persons.faces", "persons.faces.gaze")
    stateless = True
    Params = LearnedGazeParams

    def __init__(self, params: LearnedGazeParams | None = None) -> None:
        super().__init__(params)
        if self.params.frame != "camera":  # angles relative to the head: a head pose stage before it
            self.inputs = (*self.inputs, "persons.faces.head_rotation")

    def setup(self, context: StageContext) -> None:
        self.model = load_stage_model(self.params.model, self.params.device, context.device)
        self._check_model()

    # ----- model I/O ------------------------------------------------------------------------------------------
    def _check_model(self) -> None:
        """Resolve the image inputs and outputs the parameters name; check shapes the model fixes."""
        p, m = self.params, self.model
        name = m.path.name
        if p.left_input is not None:
            self.image_inputs = [p.left_input, p.right_input]
            missing = [k for k in self.image_inputs if k not in m.input_names]
            if missing:
                raise PerceptError(f"{name} has no input {missing[0]!r} (left_input / right_input); its inputs: "
                                   f"{', '.join(m.input_names)}")
        else:
            self.image_inputs = [m.input_names[0]]
        extra = [k for k in m.input_names if k not in self.image_inputs]
        if extra:
            raise PerceptError(f"{name} has inputs {', '.join(m.input_names)}; learned_gaze feeds only "
                               f"{' and '.join(self.image_inputs)} (for two eye inputs set left_input and "
                               f"right_input)")
        shapes = {i.name: list(i.shape) for i in m.session.get_inputs()}
        batches = set()
        for k in self.image_inputs:
            shape = shapes[k]
            if len(shape) != 4:
                raise PerceptError(f"{name} input {k!r} has shape {shape}; an image batch (4 dims) is expected")
            spatial, channels = (shape[2:4], shape[1]) if p.layout == "NCHW" else (shape[1:3], shape[3])
            if isinstance(channels, int) and channels != 3:
                raise PerceptError(f"{name} input {k!r} has shape {shape}: not 3 channels in layout {p.layout}; "
                                   f"check the layout parameter")
            for d in spatial:
                if isinstance(d, int) and d != p.input_size:
                    raise PerceptError(f"{name} input {k!r} has shape {shape}; set input_size to {d} (now "
                                       f"{p.input_size}) or check the layout parameter")
            batches.add(shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None)
        if len(batches) != 1:
            raise PerceptError(f"{name}'s inputs disagree about the batch size: {shapes}")
        self.fixed_batch = batches.pop()
        if p.output == "l2cs_bins":
            self.output_index = {"yaw": self._output(p.yaw_output, "yaw_output"),
                                 "pitch": self._output(p.pitch_output, "pitch_output")}
            if self.output_index["yaw"] == self.output_index["pitch"]:
                raise PerceptError("yaw_output and pitch_output name the same model output")
        else:
            self.output_index = {"gaze": self._output(p.gaze_output, "gaze_output")}

    def _output(self, which: int | str, param: str) -> int:
        names = self.model.output_names
        if isinstance(which, str):
            if which not in names:
                raise PerceptError(f"{self.model.path.name} has no output {which!r} ({param}); its outputs: "
                                   f"{', '.join(names)}")
            return names.index(which)
        if not 0 <= which < len(names):
            raise PerceptError(f"{param} = {which}, but {self.model.path.name} has {len(names)} output(s): "
                               f"{', '.join(names)}")
        return which

    def _infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One call for the whole batch; a fixed-batch model in chunks of its batch (the last chunk zero-padded)."""
        b = self.fixed_batch
        return self.model.run(feeds) if b is None else self.model.run_chunked(feeds, b, pad=True)

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """(N,S,S,3) RGB crops in [0, 1] -> the model's input tensor."""
        p = self.params
        x = crops * np.float32(255.0)
        if p.color == "BGR":
            x = x[..., ::-1]
        x = (x - np.float32(p.mean)) / np.float32(p.std)
        if p.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, np.float32)

    def decode(self, outputs: list[np.ndarray], m: int) -> tuple[np.ndarray, np.ndarray]:
        """Model outputs for m crops -> yaw, pitch (m,) degrees in our sign convention (still in the model's
        frame)."""
        p = self.params
        if p.output == "l2cs_bins":
            yaw_bins = np.asarray(outputs[self.output_index["yaw"]]).reshape(m, -1)
            pitch_bins = np.asarray(outputs[self.output_index["pitch"]]).reshape(m, -1)
            yaw = _softmax_expectation(yaw_bins, p.bin_softmax) * p.bin_width + p.bin_offset
            pitch = _softmax_expectation(pitch_bins, p.bin_softmax) * p.bin_width + p.bin_offset
        else:
            g = np.asarray(outputs[self.output_index["gaze"]], np.float64).reshape(m, -1)
            if g.shape[1] != 2:
                raise PerceptError(f"{self.model.path.name} output {self.output_index['gaze']} has "
                                   f"{g.shape[1]} values per crop; output: {p.output} expects 2 (pitch and yaw)")
            pitch, yaw = (g[:, 0], g[:, 1]) if p.output == "pitch_yaw" else (g[:, 1], g[:, 0])
            if p.units == "rad":
                pitch, yaw = np.degrees(pitch), np.degrees(yaw)
        return yaw * p.yaw_sign, pitch * p.pitch_sign

    # ----- crops ----------------------------------------------------------------------------------------------
    @staticmethod
    def eye_geometry(faces: Faces) -> tuple[np.ndarray, np.ndarray]:
        """Eye centres (n,2,2) px (iris, else the middle of the corners) and corner distances (n,2); NaN where
        unknown."""
        n = len(faces)
        centres, spans = np.full((n, 2, 2), np.nan), np.full((n, 2), np.nan)
        if faces.landmarks is not None:
            for e, (a, b) in enumerate(EYE_CORNERS):
                pa, pb = faces.landmarks[:, a, :2].astype(np.float64), faces.landmarks[:, b, :2].astype(np.float64)
                centres[:, e] = (pa + pb) / 2
                spans[:, e] = np.linalg.norm(pa - pb, axis=1)
        if faces.iris is not None:
            iris = faces.iris.astype(np.float64)
            ok = np.isfinite(iris).all(axis=2)
            centres[ok] = iris[ok]
        return centres, spans

    # ----- frame ----------------------------------------------------------------------------------------------
    def process(self, packet: FramePacket) -> dict[str, Any]:
        persons: Persons | None = packet.get("persons")
        if persons is None or len(persons) == 0 or persons.faces is None or not persons.faces.found.any():
            return {"persons": persons}
        p = self.params
        faces = persons.faces
        ok = faces.found & np.isfinite(faces.boxes).all(axis=1)
        to_camera = None  # (n,3,3): model frame -> camera frame
        roll = np.zeros(len(faces))
        if p.frame != "camera":
            rot = faces.filled("head_rotation").astype(np.float64)
            ok &= np.isfinite(rot).all(axis=(1, 2))
            if p.frame == "head":
                to_camera = rot
            else:
                centre = faces.filled("gaze_origin_3d").astype(np.float64)
                centre_bad = ~np.isfinite(centre).all(axis=1)
                centre[centre_bad] = faces.filled("head_translation")[centre_bad]
                with np.errstate(invalid="ignore"):
                    norm = normalization_rotations(rot, centre)
                ok &= np.isfinite(norm).all(axis=(1, 2))
                to_camera = np.transpose(norm, (0, 2, 1))
                right = np.nan_to_num(norm[:, 0])
                roll = -np.arctan2(right[:, 1], right[:, 0])  # turn the head's x axis to the crop's +x
        if p.crop == "face":
            boxes = faces.boxes.astype(np.float64)
            rows = np.flatnonzero(ok)
            rois = [Roi((boxes[i, 0] + boxes[i, 2]) / 2, (boxes[i, 1] + boxes[i, 3]) / 2,
                        max(boxes[i, 2] - boxes[i, 0], boxes[i, 3] - boxes[i, 1]) * p.face_scale, roll[i])
                    for i in rows]
            rows = [i for i, r in zip(rows, rois) if r.size >= 1]
            rois = [r for r in rois if r.size >= 1]
        else:
            centres, spans = self.eye_geometry(faces)
            ok &= np.isfinite(centres).all(axis=(1, 2)) & np.isfinite(spans).all(axis=1) & (spans > 0.5).all(axis=1)
            rows = list(np.flatnonzero(ok))
            rois = [Roi(centres[i, e, 0], centres[i, e, 1], spans[i, e] * p.eye_scale, roll[i])
                    for i in rows for e in (0, 1)]
        gaze = faces.filled("gaze")
        gaze[faces.found] = np.nan  # every found face gets this model's answer (NaN where it cannot give one)
        eye_gaze = None
        if rows:
            dirs, eye_dirs = self.directions(packet.color, rois, len(rows))
            idx = np.asarray(rows)
            if to_camera is not None:
                dirs = np.einsum("nij,nj->ni", to_camera[idx], dirs)
                if eye_dirs is not None:
                    eye_dirs = np.einsum("nij,nej->nei", to_camera[idx], eye_dirs)
            gaze[idx] = _unit(dirs)
            if eye_dirs is not None:
                eye_gaze = faces.filled("eye_gaze")
                eye_gaze[faces.found] = np.nan
                eye_gaze[idx] = _unit(eye_dirs)
        return {"persons": replace(persons, faces=self.updated(faces, gaze, eye_gaze))}

    def directions(self, image: np.ndarray, rois: list[Roi], m: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Unit gaze (m,3) in the model's frame for m faces, and per eye (m,2,3) for batched eye crops."""
        p = self.params
        crops = crop_batch(image, rois, p.input_size)
        if p.crop == "eyes" and p.flip_left:
            crops[1::2] = crops[1::2, :, ::-1]
        if p.crop == "eyes" and p.left_input is not None:
            feeds = {p.right_input: self.preprocess(crops[0::2]), p.left_input: self.preprocess(crops[1::2])}
            yaw, pitch = self.decode(self._infer(feeds), m)
            return direction_of(yaw, pitch), None
        yaw, pitch = self.decode(self._infer({self.image_inputs[0]: self.preprocess(crops)}), len(rois))
        if p.crop == "face":
            return direction_of(yaw, pitch), None
        if p.flip_left:
            yaw[1::2] = -yaw[1::2]
        eyes = direction_of(yaw, pitch).reshape(m, 2, 3)
        return eyes.sum(axis=1), eyes

    @staticmethod
    def updated(faces: Faces, gaze: np.ndarray, eye_gaze: np.ndarray | None) -> Faces:
        """``faces`` with the new gaze. What an earlier estimate derived for a found face (per-eye gaze, gaze
        targets) no longer belongs to this gaze and is cleared in those rows; ``gaze_origin_3d`` is kept."""
        found = faces.found
        fields: dict[str, Any] = {"gaze": gaze}
        if eye_gaze is not None:
            fields["eye_gaze"] = eye_gaze
        elif faces.eye_gaze is not None:
            stale = faces.eye_gaze.copy()
            stale[found] = np.nan
            fields["eye_gaze"] = stale
        for name in ("gaze_target_3d", "gaze_target_px"):
            if getattr(faces, name) is not None:
                value = faces.filled(name)
                value[found] = np.nan
                fields[name] = value
        if faces.gaze_target_track_id is not None:
            tid = faces.gaze_target_track_id.copy()
            tid[found] = -1
            fields["gaze_target_track_id"] = tid
        return replace(faces, **fields)

    def describe(self) -> dict:
        return self.model.describe()
