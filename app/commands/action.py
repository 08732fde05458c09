"""`percept action ...`: train, evaluate, export and benchmark online action models; datasets from recordings."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

NAME = "action"
app = typer.Typer(help="Online action detection: train, eval, export, bench, demo data, features from recordings.",
                  no_args_is_help=True)


@app.command()
def train(
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset folder (features/, targets/, classes.json, "
                                        "split.json)."),
    from_labels: Optional[list[Path]] = typer.Option(None, "--from-labels", help="labels.csv whose rows name "
                                                     "results.jsonl files relative to it (repeatable): teach new "
                                                     "actions from recordings instead of --data."),
    model: str = typer.Option("oadtr", "--model", help="trn | oadtr | mlp (--from-labels: trn | oadtr)"),
    size: str = typer.Option("lite", "--size", help="paper | lite"),
    out: Path = typer.Option(..., "--out", help="Checkpoint folder (safetensors + JSON)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Default 20 with --data, 8 with "
                                         "--from-labels."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    lr: float = typer.Option(1e-3, "--lr"),
    window: Optional[int] = typer.Option(None, "--window", min=1, help="Override the size's window length."),
    seed: int = typer.Option(0, "--seed"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda (mixed precision on CUDA); "
                                         "default auto with --data, cpu with --from-labels (reproducible)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in --out (--data only)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    augment: Optional[bool] = typer.Option(None, "--augment/--no-augment", help="Pose-noise augmentation (jitter, "
                                           "missed keypoints, occluded limbs, late track starts, mirror): for "
                                           "skeleton datasets from clean joints, so the model holds up on the pose "
                                           "stage's output. Default off with --data, on with --from-labels."),
    background_videos: int = typer.Option(8, "--background-videos", min=0, help="--from-labels: procedural idle "
                                          "clips added to training as background."),
    val_fraction: float = typer.Option(0.25, "--val-fraction", min=0.0, max=0.95, help="--from-labels: share of "
                                       "the labelled segments (or of each track's end) held out for evaluation."),
) -> None:
    """Train TRN, OadTR or the per-frame MLP on a THUMOS/TVSeries-layout feature dataset, or teach new actions from
    labelled recordings (--from-labels)."""
    from models.action.data import load_dataset
    from models.action.train import TrainOptions, train as run_train
    from pipeline.errors import PerceptError

    if (data is None) == (not from_labels):
        raise PerceptError("give exactly one of --data (a feature dataset) or --from-labels (labels.csv files)")
    if model not in ("trn", "oadtr", "mlp"):
        raise PerceptError(f"--model must be trn, oadtr or mlp, got {model!r}")
    if size not in ("paper", "lite"):
        raise PerceptError(f"--size must be paper or lite, got {size!r}")
    if from_labels:
        if window is not None or resume:
            raise PerceptError("--window and --resume apply to --data; leave them out with --from-labels")
        _teach(from_labels, out, model, size, epochs, batch_size, lr, seed, device, augment, background_videos,
               val_fraction, progress)
        return
    dataset = load_dataset(data, splits=("train",))
    feature = json.loads((data / "feature.json").read_text()) if (data / "feature.json").is_file() else {}
    result = run_train(dataset, out, TrainOptions(model=model, size=size, epochs=epochs or 20, batch_size=batch_size,
                                                  lr=lr, seed=seed, device=device or "auto", window=window,
                                                  resume=resume, progress=progress, augment=bool(augment)),
                       feature=feature)
    last = result["history"][-1]["loss"] if result["history"] else None
    typer.echo(f"trained {model}-{size} on {result['device']}: final loss {last}; checkpoint in {out}/")


def _teach(labels: list[Path], out: Path, model: str, size: str, epochs: Optional[int], batch_size: int, lr: float,
           seed: int, device: Optional[str], augment: Optional[bool], background_videos: int, val_fraction: float,
           progress: bool) -> None:
    """`train --from-labels`: models/action/teach.py with TeachOptions' defaults for what was not given."""
    from models.action.teach import TeachOptions, train_from_labels

    defaults = TeachOptions()
    options = TeachOptions(model=model, size=size, epochs=epochs or defaults.epochs, batch_size=batch_size, lr=lr,
                           seed=seed, device=device or defaults.device,
                           augment=defaults.augment if augment is None else augment,
                           background_videos=background_videos, val_fraction=val_fraction)

    def show(info: dict) -> None:
        if progress and info["stage"] == "train":
            typer.echo(f"\rtrain epoch {info['epoch']}/{info['epochs']} step {info['step']}/{info['steps']} "
                       f"loss {info['loss']:.4f}", err=True, nl=info["step"] == info["steps"])

    result = train_from_labels(labels, out, options, on_progress=show)
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    typer.echo(f"taught {model}-{size}: classes {', '.join(result['classes'][1:])}; mAP {fmt(result['mAP'])}; "
               f"early accuracy at 50% {fmt(result['early_accuracy'].get('50%'))}; validation "
               f"{result['validation']}; {result['seconds']:.1f} s on {result['device']}; checkpoint in "
               f"{result['checkpoint']}/")


@app.command("eval")
def evaluate(
    data: Path = typer.Option(..., "--data"),
    ckpt: Path = typer.Option(..., "--ckpt"),
    device: str = typer.Option("auto", "--device"),
    perturb: bool = typer.Option(False, "--perturb", help="Score on test features with simulated pose noise "
                                 "(seeded): how well a model trained on clean joints holds up."),
    seed: int = typer.Option(0, "--seed", help="Seed of --perturb."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Per-frame mAP (THUMOS'14 protocol), mcAP (TVSeries protocol) and early recognition on the test split."""
    from models.action.evaluate import evaluate as run_eval

    result = run_eval(data, ckpt, device, perturb, seed)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"{result['model']}-{result['size']}: mAP {result['mAP']:.4f}  mcAP {result['mcAP']:.4f} "
               f"over {result['frames']} frames of {result['videos']} videos" + (" (perturbed)" if perturb else ""))
    early = "  ".join(f"{k} {v:.3f}" for k, v in result["early_accuracy"].items())
    typer.echo(f"  early recognition (accuracy after this much of each video): {early}")
    for name, ap in result["per_class_AP"].items():
        typer.echo(f"  {name:<16} AP {ap:.4f}  cAP {result['per_class_cAP'][name]:.4f}")


@app.command()
def export(
    ckpt: Path = typer.Option(..., "--ckpt"),
    out: Path = typer.Option(..., "--out", help="FILE.onnx"),
) -> None:
    """Export the streaming step to ONNX (OadTR/MLP: window -> probabilities; TRN: step with state in/out)."""
    from models.action.checkpoint import load_model
    from models.action.export import export_onnx

    cfg, model = load_model(ckpt)
    export_onnx(model, cfg, out)
    typer.echo(f"exported {cfg.kind}-{cfg.size} streaming step to {out}")


@app.command()
def bench(
    model: str = typer.Option("oadtr", "--model"),
    size: str = typer.Option("lite", "--size"),
    tracks: int = typer.Option(8, "--tracks", min=1),
    steps: int = typer.Option(200, "--steps", min=10),
    device: str = typer.Option("cpu", "--device"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch intra-op threads"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Time one streaming step for N tracks at once (skeleton features)."""
    from models.action.step_latency import bench_streaming

    result = bench_streaming(model, size, tracks, steps, device, threads)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"{model}-{size} on {result['device']}: {tracks} tracks per step, median {result['p50_ms']:.3f} ms, "
               f"p95 {result['p95_ms']:.3f} ms ({result['parameters']:,} parameters)")


@app.command("make-demo-data")
def make_demo_data(
    out: Path = typer.Option(..., "--out"),
    train_videos: int = typer.Option(160, "--train-videos", min=1),
    test_videos: int = typer.Option(40, "--test-videos", min=1),
    seconds: float = typer.Option(30.0, "--seconds", min=2.0),
    seed: int = typer.Option(0, "--seed"),
    positions_only: bool = typer.Option(False, "--positions-only", help="No velocity features."),
) -> None:
    """Write procedurally generated labelled skeleton motion in the THUMOS feature layout."""
    from models.action.data import save_dataset
    from models.action.synth import generate_dataset

    classes, videos = generate_dataset(train_videos, test_videos, seed, seconds, positions_only=positions_only)
    save_dataset(out, classes, videos)
    if not positions_only:
        (out / "feature.json").write_text(json.dumps({"type": "skeleton", "keypoints": "coco17"}))
    frames = sum(len(v.features) for vs in videos.values() for v in vs)
    typer.echo(f"wrote {train_videos}+{test_videos} videos ({frames} frames, {len(classes)} classes) to {out}/")


@app.command()
def features(
    results: list[Path] = typer.Option(..., "--results", help="results.jsonl of `percept run --headless` "
                                       "(repeatable)."),
    labels: Path = typer.Option(..., "--labels", help="CSV: results,track_id,start_frame,end_frame,label "
                                "(frames inclusive; track_id empty or * = every track)."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write (THUMOS feature layout)."),
    classes: Optional[str] = typer.Option(None, "--classes", help="Action names in class order, comma-separated "
                                          "(default: sorted labels); background is always class 0."),
    test_fraction: float = typer.Option(0.25, "--test-fraction", help="Share of videos held out for test."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/test split."),
    min_frames: int = typer.Option(16, "--min-frames", min=1, help="Leave out track segments shorter than this."),
    max_gap: int = typer.Option(30, "--max-gap", min=0, help="Bridge a track's gaps up to this many frames, as "
                                "the online_action stage does (its max_missing_frames); longer gaps split it."),
    keypoint_threshold: float = typer.Option(0.3, "--keypoint-threshold", min=0.0, max=1.0,
                                             help="As the online_action stage's keypoint_threshold."),
) -> None:
    """Skeleton features + per-frame targets from labelled recordings, to train models the stage can run."""
    from models.action.recordings import build_dataset

    summary = build_dataset(results, labels, out, classes.split(",") if classes is not None else None,
                            test_fraction, seed, min_frames, max_gap, keypoint_threshold)
    for warning in summary["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    per_class = ", ".join(f"{c} {n}" for c, n in summary["class_frames"].items())
    skipped = (f"; left out {summary['skipped_short']} segments under {min_frames} frames"
               if summary["skipped_short"] else "")
    typer.echo(f"wrote {summary['videos']} videos ({summary['train']} train, {summary['test']} test), "
               f"{summary['frames']} frames to {out}/; frames per class: {per_class}{skipped}")


import_app = typer.Typer(help="Labelled datasets from other formats, as THUMOS-layout skeleton feature datasets.",
                         no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("penn-action")
def import_penn_action(
    labels_dir: Path = typer.Argument(..., help="Penn Action's labels/ folder (NNNN.mat files)."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write (THUMOS feature layout)."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="Share of clips per class held out for "
                                       "validation (written as the test split that `action eval` scores)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the validation split."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Resample clips to the frame rate the stage will "
                                        "see (velocities depend on it); default: keep every frame (~30 fps)."),
    keypoint_threshold: float = typer.Option(0.3, "--keypoint-threshold", min=0.0, max=1.0,
                                             help="As the online_action stage's keypoint_threshold."),
) -> None:
    """Penn Action's joints -> the skeleton features the online_action stage computes (research use only)."""
    from models.action.penn_action import import_penn_action as run_import

    summary = run_import(labels_dir, out, val_fraction, seed, fps, keypoint_threshold=keypoint_threshold)
    per_class = ", ".join(f"{c} {n}" for c, n in summary["clips_per_class"].items())
    typer.echo(f"wrote {summary['clips']} clips ({summary['train']} train, {summary['val']} validation), "
               f"{summary['frames']} frames to {out}/; clips per class: {per_class}")


@app.command()
def calibrate(
    ckpt: Path = typer.Option(..., "--ckpt", help="Checkpoint folder; its config.json gets label_threshold."),
    background: list[Path] = typer.Option(..., "--background", help="results.jsonl of held-out ordinary motion "
                                          "(`percept run --headless` on footage with none of the model's actions; "
                                          "repeatable): its tracks give the false-label rate."),
    data: Path = typer.Option(..., "--data", help="Dataset whose test split's action frames give the recall."),
    max_false_rate: float = typer.Option(0.01, "--max-false-rate", min=0.0, max=1.0,
                                         help="Share of background frames allowed to show a label."),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Choose the probability from which the stage shows an action (below it the model abstains)."""
    from models.action.calibrate import calibrate_model
    from models.action.checkpoint import load_model
    from models.action.data import load_dataset
    from models.action.recordings import unlabelled_videos
    from models.action.train import pick_device
    from pipeline.errors import PerceptError

    dev = pick_device(device)
    cfg, model = load_model(ckpt, dev)
    actions = load_dataset(data, splits=("test",))
    if actions.classes != cfg.classes:
        raise PerceptError(f"--data has classes {actions.classes}; the checkpoint has {cfg.classes}")
    if not actions.test:
        raise PerceptError(f"{data}/split.json has no test videos")
    videos = unlabelled_videos(background, cfg.feature)
    if not videos:
        raise PerceptError("no track of 16 or more frames with keypoints in the --background results")
    cal = calibrate_model(model, cfg, videos, actions.test, dev, max_false_rate)
    cfg.label_threshold = round(cal.threshold, 4)
    cfg.save(Path(ckpt) / "config.json")
    typer.echo(f"label_threshold {cal.threshold:.4f} written to {ckpt}/config.json: {cal.false_rate:.2%} of "
               f"{cal.background_frames} background frames labelled; recall {cal.recall:.3f} of "
               f"{cal.action_frames} action frames ({cal.recall_without_threshold:.3f} without a threshold)")
