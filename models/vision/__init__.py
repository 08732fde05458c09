"""Image geometry and decoding helpers shared by model stages (numpy + OpenCV, no model code), and the result types
they produce (``Persons``, ``Detections``, keypoint names)."""
