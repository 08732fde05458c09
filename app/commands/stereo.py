"""`percept stereo disparity`: dense disparity of a rectified pair."""
from __future__ import annotations

from pathlib import Path

import typer

from calibration.errors import CalibrationError
from pipeline.errors import PerceptError

NAME = "stereo"
app = typer.Typer(help="Stereo matching.", no_args_is_help=True)


@app.command()
def disparity(
    left: Path = typer.Argument(..., help="Left image (rectified)."),
    right: Path = typer.Argument(..., help="Right image (rectified)."),
    num_disparities: int = typer.Option(64, "--num-disparities", help="Search range in pixels (multiple of 16)."),
    out: Path = typer.Option(..., "--out", help="FILE.npy: float32 disparity of the left image, NaN = none."),
) -> None:
    """SGM + left-right check + sub-pixel + hole filling; writes float32 disparity in pixels."""
    import cv2
    import numpy as np

    from calibration.disparity import DisparityEstimator, DisparityParams

    images = []
    for path in (left, right):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise PerceptError(f"cannot read image {path}")
        images.append(img)
    try:
        disp = DisparityEstimator(DisparityParams(num_disparities=num_disparities)).compute(*images)
    except CalibrationError as exc:
        raise PerceptError(str(exc)) from exc
    if out.suffix != ".npy":
        raise PerceptError(f"--out must end in .npy, got {out.name}")
    np.save(out, disp)
    valid = np.isfinite(disp)
    typer.echo(f"disparity {disp.shape[1]}x{disp.shape[0]}: {valid.mean():.1%} estimated, range "
               f"{np.nanmin(disp):.2f}..{np.nanmax(disp):.2f} px; written to {out}")
