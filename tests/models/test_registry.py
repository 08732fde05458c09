"""The model registry: shipped models verify; pulls from a local HTTP server resume, and bad files are refused."""
from __future__ import annotations

import hashlib
import json
import http.server
import threading
from pathlib import Path

import pytest
import yaml

from models.registry import Registry, resolve_model
from pipeline.errors import PerceptError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /model.onnx with HTTP Range support; can cut a response short or corrupt it."""

    cut_after: int | None = None
    corrupt = False
    requests: list[str | None] = []

    def do_GET(self):  # noqa: N802
        type(self).requests.append(self.headers.get("Range"))
        data = bytearray(PAYLOAD)
        if type(self).corrupt:
            data[1000] ^= 0xFF
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = bytes(data[start:])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if type(self).cut_after is not None:
            self.wfile.write(body[: type(self).cut_after])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _RangeHandler.cut_after, _RangeHandler.corrupt, _RangeHandler.requests = None, False, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/model.onnx"
    httpd.shutdown()


def make_registry(tmp_path: Path, url: str, sha: str | None = None) -> Registry:
    tmp_path.mkdir(parents=True, exist_ok=True)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"models": {"remote": {
        "url": url, "sha256": sha or hashlib.sha256(PAYLOAD).hexdigest(), "licence": "MIT", "source": "test"}}}))
    return Registry(manifest, tmp_path / "cache")


def test_pull_verifies_and_reuses(tmp_path, server):
    reg = make_registry(tmp_path, server)
    path = reg.pull("remote")
    assert path.read_bytes() == PAYLOAD and path.parent == tmp_path / "cache" / "remote"
    assert reg.pull("remote") == path and len(_RangeHandler.requests) == 1  # no second download
    assert resolve_model("remote", reg) == path


def test_interrupted_pull_resumes_with_range(tmp_path, server):
    reg = make_registry(tmp_path, server)
    _RangeHandler.cut_after = 300_000
    with pytest.raises(PerceptError, match="run the same command again to resume"):
        reg.pull("remote")
    part = tmp_path / "cache" / "remote" / "model.onnx.part"
    assert 0 < part.stat().st_size < len(PAYLOAD)
    _RangeHandler.cut_after = None
    path = reg.pull("remote")
    assert path.read_bytes() == PAYLOAD
    assert _RangeHandler.requests[-1] == f"bytes={300_000}-"


def test_checksum_failure_is_refused_and_partial_removed(tmp_path, server):
    reg = make_registry(tmp_path, server)
    _RangeHandler.corrupt = True
    with pytest.raises(PerceptError, match="does not match its sha256"):
        reg.pull("remote")
    assert not list((tmp_path / "cache" / "remote").glob("*"))


def test_truncated_or_corrupt_file_in_cache_is_a_clear_error(tmp_path, server):
    reg = make_registry(tmp_path, server)
    path = reg.pull("remote")
    path.write_bytes(PAYLOAD[:1000])
    with pytest.raises(PerceptError, match="corrupt or truncated.*pull remote"):
        reg.verify("remote", force=True)
    with pytest.raises(PerceptError, match="not present"):
        make_registry(tmp_path / "other", server).verify("remote")


def test_shipped_models_verify_and_unknown_names_list_choices():
    reg = Registry()
    for name in reg.entries:
        assert reg.verify(name, force=True).is_file()
    with pytest.raises(PerceptError, match="known models: .*pose_landmark_full"):
        resolve_model("nope")


def test_a_cut_verification_marker_is_forgotten_not_fatal(tmp_path):
    """A process killed while writing the marker (or two writing at once) must not break every later load."""
    from models.registry import Registry

    reg = Registry(cache=tmp_path)
    (tmp_path / "verified.json").write_text("")  # what a cut write leaves
    name = next(n for n, e in reg.entries.items() if e.shipped)
    assert reg.verify(name).is_file()
    (tmp_path / "verified.json").write_text('{"a": ')
    assert reg.verify(name).is_file()
    assert json.loads((tmp_path / "verified.json").read_text())  # rewritten whole
    assert not list(tmp_path.glob(".verified.json.*"))
