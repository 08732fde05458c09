"""Action models: shapes, streaming equals full-sequence, metrics, checkpoints, resume, ONNX parity."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.action.checkpoint import load_model, save_model
from models.action.config import ActionModelConfig
from models.action.data import Video, load_dataset, save_dataset
from models.action.export import example_inputs, export_onnx, torch_reference
from models.action.inference import ActionStreamer, predict_videos
from models.action.metrics import average_precision, frame_map
from models.action.nets import StaggeredTRNState, build_model
from models.action.train import TrainOptions, train

CLASSES = ["background", "a", "b"]


def cfg_for(kind, **kw):
    return ActionModelConfig.create(kind, "lite", 6, CLASSES, **kw)


@pytest.mark.parametrize("kind", ["trn", "oadtr", "mlp"])
def test_forward_shapes(kind):
    cfg = cfg_for(kind)
    model = build_model(cfg).eval()
    logits, future = model(torch.randn(2, 10, 6))
    assert logits.shape == (2, 10, 3)
    if kind != "mlp":
        assert future.shape == (2, 10, cfg.future_steps, 3)


def test_paper_sizes_are_the_papers():
    trn = ActionModelConfig.create("trn", "paper", 2048, CLASSES)
    oad = ActionModelConfig.create("oadtr", "paper", 2048, CLASSES)
    assert (trn.hidden, trn.future_steps) == (4096, 8)
    assert (oad.hidden, oad.heads, oad.encoder_layers, oad.decoder_layers, oad.window) == (1024, 8, 3, 5, 64)


@pytest.mark.parametrize("kind", ["trn", "oadtr", "mlp"])
def test_streaming_per_track_equals_whole_sequence(kind):
    torch.manual_seed(0)
    cfg = cfg_for(kind, window=8)
    model = build_model(cfg).eval()
    seqs = np.random.default_rng(0).normal(size=(3, 20, 6)).astype(np.float32)
    full = predict_videos(model, cfg, list(seqs), torch.device("cpu"))
    streamer = ActionStreamer(model, cfg, torch.device("cpu"))
    for t in range(20):
        probs, _ = streamer.update([10, 11, 12], seqs[:, t])
        np.testing.assert_allclose(probs, np.stack([f[t] for f in full]), atol=1e-5)


def test_trn_streaming_state_stays_within_the_trained_context():
    """Each streamed output equals TRN run from a zero state over the last k frames, k in [window//2+1, window]
    once half a window has passed: the state never drifts past what training covers, however long the stream."""
    torch.manual_seed(0)
    cfg = cfg_for("trn", window=8)
    model = build_model(cfg).eval()
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(1, 50, 6)).astype(np.float32))
    state = StaggeredTRNState(model, 1)
    with torch.inference_mode():
        for t in range(50):
            streamed, _ = state.step(x[:, t])
            k = max(t % 8, (t - 4) % 8 if t >= 4 else -1) + 1
            assert (1 <= k <= 8) and (t < 4 or k >= 5)
            fresh, _ = model(x[:, t + 1 - k:t + 1])
            torch.testing.assert_close(streamed, fresh[:, -1], atol=1e-5, rtol=1e-5)


def test_streamer_allocates_and_frees_track_state():
    cfg = cfg_for("trn")
    streamer = ActionStreamer(build_model(cfg).eval(), cfg, torch.device("cpu"), max_missing=3)
    feats = np.zeros((2, 6), np.float32)
    streamer.update([1, 2], feats)
    assert set(streamer.tracks) == {1, 2}
    for _ in range(4):
        streamer.update([2], feats[:1])
    assert set(streamer.tracks) == {2}
    streamer.update([-1, 2], feats)  # untracked people get no kept state
    assert set(streamer.tracks) == {2}


def test_average_precision_hand_computed():
    # ranking: pos, neg, pos, neg -> precisions at positives 1/1 and 2/3 -> AP = 5/6
    assert average_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0])) == pytest.approx(5 / 6)
    # calibrated: w = negatives/positives = 1 here, so cAP == AP
    assert average_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0]), True) == pytest.approx(5 / 6)
    # w = 3: one positive ranked second -> cPrec = 1 / (1 + 1/3) = 0.75
    assert average_precision(np.array([0.9, 0.8, 0.1, 0.05]), np.array([0, 1, 0, 0]), True) == pytest.approx(0.75)
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.1, 0.7]])
    targets = np.eye(3)[[1, 0, 2]]
    mean, per_class = frame_map(scores, targets, CLASSES)
    assert set(per_class) == {"a", "b"} and mean == pytest.approx(1.0)


def tiny_dataset(tmp_path, n_train=4, n_test=2, t=40):
    rng = np.random.default_rng(1)
    videos = {}
    for split, n in (("train", n_train), ("test", n_test)):
        videos[split] = []
        for i in range(n):
            labels = (np.arange(t) // 10) % 3
            feats = np.eye(3)[labels] @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(t, 6))
            videos[split].append(Video(f"{split}{i}", feats.astype(np.float32), np.eye(3)[labels].astype(np.float32)))
    save_dataset(tmp_path / "data", CLASSES, videos)
    return tmp_path / "data"


def test_checkpoint_round_trip_and_resume_matches_uninterrupted(tmp_path):
    data = load_dataset(tiny_dataset(tmp_path), splits=("train",))
    opts = dict(model="oadtr", size="lite", batch_size=16, seed=3, device="cpu", progress=False, window=8)
    train(data, tmp_path / "full", TrainOptions(epochs=3, **opts))
    train(data, tmp_path / "part", TrainOptions(epochs=2, **opts))
    train(data, tmp_path / "part", TrainOptions(epochs=3, resume=True, **opts))
    _, a = load_model(tmp_path / "full")
    _, b = load_model(tmp_path / "part")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, msg=name)
    assert not list(tmp_path.glob("full/*.pt")) and not list(tmp_path.glob("full/*.pkl"))


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    from pipeline.errors import PerceptError

    cfg = cfg_for("mlp")
    save_model(tmp_path / "ck", cfg, build_model(cfg))
    (tmp_path / "ck" / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(PerceptError, match="corrupt"):
        load_model(tmp_path / "ck")


@pytest.mark.parametrize("kind", ["trn", "oadtr", "mlp"])
def test_onnx_export_matches_torch(tmp_path, kind):
    import onnxruntime as ort

    torch.manual_seed(0)
    cfg = cfg_for(kind, window=8)
    model = build_model(cfg).eval()
    path = export_onnx(model, cfg, tmp_path / f"{kind}.onnx")
    inputs = example_inputs(cfg, batch=5)  # a batch size other than the one exported with
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, inputs)
    want = torch_reference(model, cfg, inputs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-4)
