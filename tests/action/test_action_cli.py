"""`percept action` end to end: train/eval on generated data, and the floor: temporal models beat per-frame MLP
on labels that need temporal context."""
from __future__ import annotations

import json

import pytest

from tests.pipeline.test_cli import percept


def test_train_eval_export_cli(tmp_path):
    from tests.action.test_action_models import tiny_dataset

    data = tiny_dataset(tmp_path)
    proc = percept("action", "train", "--data", str(data), "--model", "trn", "--out", str(tmp_path / "ck"),
                   "--epochs", "2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = percept("action", "eval", "--data", str(data), "--ckpt", str(tmp_path / "ck"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert 0 <= result["mAP"] <= 1 and 0 <= result["mcAP"] <= 1 and set(result["per_class_AP"]) == {"a", "b"}
    proc = percept("action", "export", "--ckpt", str(tmp_path / "ck"), "--out", str(tmp_path / "trn.onnx"))
    assert proc.returncode == 0 and (tmp_path / "trn.onnx").stat().st_size > 1000


def test_bad_dataset_is_one_line(tmp_path):
    proc = percept("action", "train", "--data", str(tmp_path), "--out", str(tmp_path / "ck"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "classes.json not found" in proc.stderr


@pytest.mark.slow
def test_temporal_models_clearly_beat_per_frame_mlp(tmp_path):
    """Positions only (no velocity features): raise_hand vs lower_hand pass through the same poses."""
    data = tmp_path / "data"
    proc = percept("action", "make-demo-data", "--out", str(data), "--train-videos", "24", "--test-videos", "8",
                   "--seconds", "20", "--seed", "1", "--positions-only")
    assert proc.returncode == 0, proc.stderr
    scores = {}
    for model in ("mlp", "trn", "oadtr"):
        ck = tmp_path / model
        proc = percept("action", "train", "--data", str(data), "--model", model, "--out", str(ck), "--epochs", "5",
                       "--lr", "2e-3", "--batch-size", "32", "--no-progress")
        assert proc.returncode == 0, proc.stderr
        proc = percept("action", "eval", "--data", str(data), "--ckpt", str(ck), "--json")
        scores[model] = json.loads(proc.stdout)
    print({m: (s["mAP"], s["mcAP"]) for m, s in scores.items()})
    assert scores["trn"]["mAP"] > scores["mlp"]["mAP"] + 0.1
    assert scores["oadtr"]["mAP"] > scores["mlp"]["mAP"] + 0.1
    for pair in ("raise_hand", "lower_hand"):
        assert scores["oadtr"]["per_class_AP"][pair] > scores["mlp"]["per_class_AP"][pair]
