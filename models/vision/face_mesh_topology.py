"""Indices into MediaPipe's 468-point face mesh that the face stages use (the mesh's published topology).

"Right" and "left" are the person's own (the right eye is on the image's left for a face looking at the camera).
"""
from __future__ import annotations

NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10
RIGHT_EYE_CORNERS = (33, 133)  # outer, inner
LEFT_EYE_CORNERS = (263, 362)  # outer, inner
EYE_CORNERS = (RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS)  # indexed like Faces eyes: 0 right, 1 left
RIGHT_EYE_CONTOUR = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE_CONTOUR = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
EYE_CONTOURS = (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR)
MOUTH_CORNERS = (61, 291)  # right, left
