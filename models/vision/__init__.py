"""Image geometry and decoding helpers shared by model stages (numpy + OpenCV, no model code)."""
