"""One face, one person: pose results that are the same person twice, or a fragment of a close-up's head.

Two kinds of duplicate survive box NMS and OKS NMS on close-ups and in groups:
- two skeletons whose noses are on the same face (a second, low-score box on a person's body whose landmark
  model found her face again; a box spanning two people whose skeleton took one of their faces);
- a low-score box inside one person's head (the upper half of a close-up face, with a tiny skeleton on the
  forehead or in the hair).
The head of a person is estimated from its own head keypoints (eyes, ears, nose): a face box about the eyes, and a
head square around it. The stronger person (by score) is kept.
"""
from __future__ import annotations

import numpy as np

HEAD = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


def head_geometry(keypoints: np.ndarray, names: tuple[str, ...], threshold: float) -> tuple[np.ndarray, np.ndarray,
                                                                                             np.ndarray]:
    """Per person: nose (n,2) px, face box (n,4) and head box (n,4) xyxy px; NaN where the nose, eyes or ears
    are not seen well enough. The face spans the ears (or 2.2 eye distances) across, the head 1.6 times that."""
    index = {n: i for i, n in enumerate(names)}
    n = len(keypoints)
    nose, face, head = np.full((n, 2), np.nan), np.full((n, 4), np.nan), np.full((n, 4), np.nan)
    if any(k not in index for k in HEAD):
        return nose, face, head
    for p in range(n):
        kp = {k: keypoints[p, index[k]] for k in HEAD}
        if min(kp["nose"][2], kp["left_eye"][2], kp["right_eye"][2]) < threshold:
            continue
        eyes = np.array([kp["left_eye"][:2], kp["right_eye"][:2]], np.float64)
        width = 2.2 * np.linalg.norm(eyes[0] - eyes[1])
        if min(kp["left_ear"][2], kp["right_ear"][2]) >= threshold:
            width = max(width, float(np.linalg.norm(kp["left_ear"][:2] - kp["right_ear"][:2])))
        width = max(width, 2.0)
        centre = (eyes.mean(axis=0) + kp["nose"][:2]) / 2
        nose[p] = kp["nose"][:2]
        face[p] = [centre[0] - width / 2, centre[1] - width / 2, centre[0] + width / 2, centre[1] + width * 0.7]
        side = 1.6 * width
        head[p] = [centre[0] - side / 2, centre[1] - side * 0.6, centre[0] + side / 2, centre[1] + side * 0.4]
    return nose, face, head


def _inside(point: np.ndarray, box: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(point)) and np.all(np.isfinite(box)) and box[0] <= point[0] <= box[2]
                and box[1] <= point[1] <= box[3])


def _share_inside(box: np.ndarray, region: np.ndarray) -> float:
    """The share of ``box``'s area inside ``region`` (0 where the region is unknown)."""
    if not np.all(np.isfinite(region)):
        return 0.0
    w = max(0.0, min(box[2], region[2]) - max(box[0], region[0]))
    h = max(0.0, min(box[3], region[3]) - max(box[1], region[1]))
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    return float(w * h / area)


def same_face_keep(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, names: tuple[str, ...],
                   threshold: float = 0.5, fragment_score: float = 0.25, fragment_inside: float = 0.5) -> np.ndarray:
    """Indices of the people to keep, in their order. A weaker person goes where one nose is on the other's face
    and the faces are of about one size, or where its score is below ``fragment_score``, its nose (if seen) is in
    a stronger person's head and at least ``fragment_inside`` of its box lies in that head."""
    nose, face, head = head_geometry(keypoints, names, threshold)
    order = np.argsort(-np.asarray(scores), kind="stable")
    kept: list[int] = []
    for j in order:
        duplicate = False
        for i in kept:
            # one face: a nose on the other's face, and faces of about one size (a skeleton spanning two people
            # has a huge "face" that a neighbour's nose falls into)
            widths = face[j, 2] - face[j, 0], face[i, 2] - face[i, 0]
            similar = max(widths) <= 1.5 * min(widths)
            if similar and (_inside(nose[j], face[i]) or _inside(nose[i], face[j])):
                duplicate = True
            elif (scores[j] < fragment_score and _share_inside(boxes[j], head[i]) >= fragment_inside
                  and (not np.all(np.isfinite(nose[j])) or _inside(nose[j], head[i]))):
                duplicate = True
            if duplicate:
                break
        if not duplicate:
            kept.append(int(j))
    return np.sort(np.array(kept, np.int64))
