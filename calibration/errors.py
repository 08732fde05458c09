"""Calibration's own error type (this package imports nothing from the rest of Percept)."""


class CalibrationError(ValueError):
    """Bad calibration input: unreadable images, no board found, mismatched pairs, malformed files."""
