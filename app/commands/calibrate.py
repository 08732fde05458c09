"""`percept calibrate intrinsics|stereo`: camera calibration from board images, with a report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from calibration.errors import CalibrationError
from pipeline.errors import PerceptError

NAME = "calibrate"
app = typer.Typer(help="Calibrate cameras from chessboard or ChArUco images.", no_args_is_help=True)


def _board(pattern: str, square: float, marker: Optional[float]):
    from calibration.boards import Board

    return Board.parse(pattern, square, marker)


def _calibrated(solve, write, out: Path):
    """``solve()``'s report, written to ``out`` by ``write(out, report)``; a calibration failure is one line."""
    try:
        report = solve()
        write(out, report)
    except CalibrationError as exc:
        raise PerceptError(str(exc)) from exc
    return report.to_dict()


def _print_report(data: dict, as_json: bool, summary: str, per_view: dict | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(summary)
    for name, err in (per_view or {}).items():
        typer.echo(f"  {name}: {err:.4f} px")
    for name, reason in data["skipped"].items():
        typer.echo(f"  skipped {name}: {reason}")


@app.command()
def intrinsics(
    images: str = typer.Option(..., "--images", help="Glob of board images, e.g. 'calib/*.png'."),
    pattern: str = typer.Option("chessboard:9x6", "--pattern", help="chessboard:COLSxROWS (inner corners) or "
                                "charuco:COLSxROWS[:DICT] (squares)."),
    square: float = typer.Option(..., "--square", help="Square side in metres."),
    marker: Optional[float] = typer.Option(None, "--marker", help="ChArUco marker side in metres."),
    out: Path = typer.Option(..., "--out", help="Output file: .yaml/.yml (OpenCV FileStorage) or .json."),
    model: str = typer.Option("standard", "--model", help="standard | rational | thin_prism"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Intrinsics of one camera: sub-pixel corners, RMS, per-view errors, coverage, skipped views."""
    from calibration.calibrate import calibrate_intrinsics, expand_images
    from calibration.io import write_intrinsics

    data = _calibrated(lambda: calibrate_intrinsics(expand_images(images), _board(pattern, square, marker), model),
                       lambda path, r: write_intrinsics(path, r.intrinsics, {"rms_px": r.rms_px}), out)
    _print_report(data, as_json, f"RMS reprojection error {data['rms_px']:.4f} px over {data['views_used']} views; "
                                 f"coverage {data['coverage']:.0%}; fx {data['fx']:.2f} fy {data['fy']:.2f} "
                                 f"cx {data['cx']:.2f} cy {data['cy']:.2f}; written to {out}", data["per_view_rms_px"])


@app.command()
def stereo(
    left: str = typer.Option(..., "--left", help="Glob of left images (paired with --right in sorted order)."),
    right: str = typer.Option(..., "--right", help="Glob of right images."),
    pattern: str = typer.Option("chessboard:9x6", "--pattern"),
    square: float = typer.Option(..., "--square", help="Square side in metres."),
    marker: Optional[float] = typer.Option(None, "--marker"),
    out: Path = typer.Option(..., "--out", help=".yaml/.yml (OpenCV FileStorage: M1 D1 M2 D2 R T R1 R2 P1 P2 Q) "
                             "or .json"),
    model: str = typer.Option("standard", "--model"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Both cameras' intrinsics, R and T, rectification, RMS and the epipolar error after rectification."""
    from calibration.calibrate import calibrate_stereo, expand_images
    from calibration.io import write_stereo

    data = _calibrated(lambda: calibrate_stereo(expand_images(left), expand_images(right),
                                                _board(pattern, square, marker), model),
                       lambda path, r: write_stereo(path, r.camera, {"rms_px": r.rms_px}), out)
    _print_report(data, as_json, f"stereo RMS {data['rms_px']:.4f} px over {data['pairs_used']} pairs; baseline "
                                 f"{data['baseline_m'] * 1000:.2f} mm; rectified epipolar error "
                                 f"{data['rectified_epipolar_error_px']:.4f} px; written to {out}")
