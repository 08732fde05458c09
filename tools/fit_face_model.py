"""Fit the metric 3D face model that head pose is solved against (assets/models/face_model_468.npy).

MediaPipe's canonical face model is in no package we can ship from, so it is fitted here from the face mesh
model's own 3D output on real faces (``../shared/data``: face-landmark sets, COCO and action-clip frames):
1. generalised Procrustes analysis (rotation, translation, scale) of the per-face meshes -> a mean shape;
2. symmetry: each vertex is paired with its mirror image across the best symmetry plane (Hungarian matching),
   and each pair averaged, so mirroring an image negates yaw and roll exactly;
3. frame: the head's frontal frame (models/vision/face_frame.py): x from the right eye centre to the left (each
   the midpoint of its corners), y in the plane of the eye centres and the mouth centre, from the eyes toward the
   mouth, z = x cross y (into the head), as the gaze benchmarks' head coordinate system; origin between the eye
   centres; scale so the eye centres are 63 mm apart (mean adult interpupillary distance).
   (An earlier version levelled pitch to the median attitude of the fitting photos: whatever those people did
   with their heads became "level", and every head read ~8 degrees too far up.)

Usage: python tools/fit_face_model.py [DATA_DIR] [OUT.npy]
"""
from __future__ import annotations

import sys
from pathlib import Path

import av
import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.stages import load_builtin_stages  # noqa: E402
from models.vision import face_mesh_topology as topo  # noqa: E402
from models.vision.face_frame import frontal_axes, plane_tilt_deg  # noqa: E402
from pipeline.packet import FramePacket  # noqa: E402
from pipeline.registry import get_stage_type  # noqa: E402
from pipeline.stage import StageContext  # noqa: E402

NASION = 168
IPD_M = 0.063


def stage(kind: str, **params):
    cls = get_stage_type(kind)
    s = cls(cls.Params(**params))
    s.setup(StageContext(kind, device="cpu"))
    return s


def images(data: Path):
    for pattern in ("pose/300w/*.png", "pose/aflw/*.jpg", "pose/cofw/*.jpg", "pose/wflw/*.png", "pose/wflw/*.jpg",
                    "pose/300wlp/*.jpg", "pose/coco/*.jpg", "pose/crowdpose/*.jpg", "pose/mpii/*.jpg"):
        for path in sorted(data.glob(pattern)):
            image = cv2.imread(str(path))
            if image is not None:
                yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    for path in sorted((data / "action_clips").glob("*.mp4")):
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 15 == 0:
                    yield frame.to_ndarray(format="rgb24")


def meshes(data: Path) -> list[np.ndarray]:
    detector, pose, face = stage("person_detector"), stage("pose"), stage("face_mesh", iris=False)
    out = []
    for image in images(data):
        packet = FramePacket(0, 0.0, image)
        for s in (detector, pose, face):
            packet.apply(s.process(packet))
        faces = packet.get("persons").faces
        for i in np.flatnonzero(faces.found & (faces.scores > 0.9)):
            lm = faces.landmarks[i].astype(np.float64)
            if np.hypot(*(lm[263, :2] - lm[33, :2])) > 30:  # big enough for a clean mesh
                out.append(lm)
    return out


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R minimising |R src - dst| for centred (N,3) point sets."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1, 1, d]) @ vt


def procrustes_mean(shapes: list[np.ndarray], iterations: int = 20) -> np.ndarray:
    normed = []
    for s in shapes:
        c = s - s.mean(axis=0)
        normed.append(c / np.linalg.norm(c))
    mean = normed[0]
    for _ in range(iterations):
        aligned = [(kabsch(s, mean) @ s.T).T for s in normed]
        new = np.mean(aligned, axis=0)
        new /= np.linalg.norm(new)
        if np.linalg.norm(new - mean) < 1e-9:
            break
        mean = new
    return mean


def symmetrise(shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(33, 263), (133, 362), (61, 291)]
    normal = np.mean([shape[b] - shape[a] for a, b in pairs], axis=0)
    normal /= np.linalg.norm(normal)
    for _ in range(5):
        centre = shape.mean(axis=0)
        rel = shape - centre
        mirrored = rel - 2 * (rel @ normal)[:, None] * normal
        cost = np.linalg.norm(rel[:, None, :] - mirrored[None, :, :], axis=2)
        _, mate = linear_sum_assignment(cost)
        # re-fit the plane normal from the pairs
        diffs = rel - rel[mate]
        signs = np.sign(diffs @ normal)
        normal = np.sum(diffs * signs[:, None], axis=0)
        normal /= np.linalg.norm(normal)
    centre = shape.mean(axis=0)
    rel = shape - centre
    mirror = lambda p: p - 2 * (p @ normal)[..., None] * normal  # noqa: E731
    sym = (rel + mirror(rel[mate])) / 2
    return sym + centre, normal


def metric_frame(shape: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """The symmetrised mean shape in the frontal frame, metres. For a mirror-symmetric shape the eye-centre line
    is the symmetry plane's normal, so yaw and roll 0 are the symmetry plane facing the camera."""
    axes = frontal_axes(shape)
    if abs(axes[0] @ normal) < 0.999:
        raise SystemExit("the eye-centre line is not the symmetry normal: symmetrisation failed")
    eyes = [shape[list(c)].mean(axis=0) for c in topo.EYE_CONTOURS]
    origin = (eyes[0] + eyes[1]) / 2
    out = (shape - origin) @ axes.T
    ipd = np.linalg.norm((eyes[1] - eyes[0]) @ axes.T)
    return out * (IPD_M / ipd)


def frankfurt_deg(model: np.ndarray) -> float:
    """A cross-check, not the definition: how far the line from the face contour at the ear (mesh 234/454,
    near tragion) to the skin below the lower orbit (230/450, near orbitale) is from level, positive when its
    front is lower (the frontal frame then has the head tilted forward of the Frankfurt horizontal)."""
    tragion, orbitale = model[[234, 454]].mean(axis=0), model[[230, 450]].mean(axis=0)
    d = orbitale - tragion
    return float(np.degrees(np.arctan2(d[1], -d[2])))


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "assets" / "models" / "face_model_468.npy"
    load_builtin_stages()
    shapes = meshes(data)
    if len(shapes) < 5:
        raise SystemExit(f"only {len(shapes)} usable faces under {data}: need at least 5")
    mean = procrustes_mean(shapes)
    sym, normal = symmetrise(mean)
    model = metric_frame(sym, normal).astype(np.float32)
    print(f"face plane tilt in the model frame: {plane_tilt_deg(model):.3f} deg (0 by construction); "
          f"Frankfurt-like line (mesh 234/454 -> 230/450) {frankfurt_deg(model):+.1f} deg from level")
    nose = model[topo.NOSE_TIP]
    print(f"{len(shapes)} faces; nose tip {np.round(nose * 1000, 1)} mm, chin {np.round(model[topo.CHIN] * 1000, 1)} mm, "
          f"face width {1000 * np.ptp(model[:, 0]):.0f} mm, height {1000 * np.ptp(model[:, 1]):.0f} mm")
    np.save(out, model)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
