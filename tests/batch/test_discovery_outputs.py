"""Discovery, skip decisions and atomic commits, on real folders (no processes)."""
from __future__ import annotations

import json

from app.batch.discovery import discover
from app.batch.outputs import DoneMarker, commit, fresh_temp, read_marker, temp_for
from app.batch.plan import decide
from app.commands.batch import normalise_ray_flag


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_discovery_finds_videos_recordings_and_image_folders_sorted(tmp_path):
    root = tmp_path / "in"
    for rel in ["b.mp4", "a/clip.MOV", "a/rec.db3", "a/rec2.bag", "c/d/e.webm", "notes.txt", ".hidden/x.mp4",
                "clips/x.avi", "clips/cover.jpg"]:
        _touch(root / rel)
    _touch(root / "frames" / "0001.png")
    _touch(root / "frames" / "inner" / "y.mp4")  # inside an image folder: part of it, not a recording
    _touch(root / "tum" / "rgb" / "1.png")
    _touch(root / "tum" / "depth" / "1.png")
    _touch(root / "out" / "b.mp4" / "annotated.mp4")  # the batch's own output inside DIR
    found = discover(root, exclude=root / "out")
    assert [(r.rel, r.kind) for r in found] == [
        ("a/clip.MOV", "video"), ("a/rec.db3", "realsense"), ("a/rec2.bag", "realsense"), ("b.mp4", "video"),
        ("c/d/e.webm", "video"), ("clips/x.avi", "video"), ("frames", "images"), ("tum", "images")]
    assert [r.rel for r in discover(root, "*.mp4", exclude=root / "out")] == ["b.mp4"]
    assert [r.rel for r in discover(root, "a/*", exclude=root / "out")] == ["a/clip.MOV", "a/rec.db3", "a/rec2.bag"]
    assert [r.rel for r in discover(root / "frames")] == ["frames"]  # DIR itself an image folder


def test_decide_skip_and_redo_rules():
    done = DoneMarker("done", "h1", 10, 5.0, 2.0, "a.mp4", video=True)
    failed = DoneMarker("failed", "h1", 3, 5.0, 2.0, "a.mp4", video=True, error="corrupt")
    assert decide(done, "h1", None, True) == (False, "done")
    assert decide(done, "h2", None, True) == (True, "config changed")
    assert decide(done, "h2", "failed", True) == (False, "done")
    assert decide(done, "h1", "all", True) == (True, "redo all")
    assert decide(failed, "h1", None, True) == (True, "failed before")
    assert decide(failed, "h1", "failed", True) == (True, "failed before")
    assert decide(None, "h1", "failed", True) == (True, "new")
    no_video = DoneMarker("done", "h1", 10, 5.0, 2.0, "a.mp4", video=False)
    assert decide(no_video, "h1", None, False) == (False, "done")
    assert decide(no_video, "h1", None, True) == (True, "no video yet")


def test_commit_replaces_an_old_folder_and_leaves_no_scratch(tmp_path):
    target = tmp_path / "out" / "sub" / "a.mp4"
    for run in (1, 2):
        tmp = fresh_temp(target)
        (tmp / "results.jsonl").write_text(f"{{\"run\": {run}}}\n")
        commit(tmp, target, DoneMarker("done", f"h{run}", run, 1.0, 1.0, "sub/a.mp4", video=False))
        assert json.loads((target / "results.jsonl").read_text()) == {"run": run}
        assert read_marker(target).config_hash == f"h{run}"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.mp4"]  # no .tmp / .old folders left
    assert not temp_for(target).exists()
    (target / "_DONE.json").write_text("{not json")
    assert read_marker(target) is None  # unreadable marker: counts as missing, the file is redone


def test_ray_flag_takes_an_optional_address():
    assert normalise_ray_flag(["d", "--ray"]) == ["d", "--ray", "local"]
    assert normalise_ray_flag(["d", "--ray", "--out", "o"]) == ["d", "--ray", "local", "--out", "o"]
    assert normalise_ray_flag(["--ray", "d", "--out", "o"]) == ["--ray", "local", "d", "--out", "o"]
    assert normalise_ray_flag(["d", "--ray", "10.0.0.2:6379"]) == ["d", "--ray", "10.0.0.2:6379"]
    assert normalise_ray_flag(["d", "--ray", "auto"]) == ["d", "--ray", "auto"]
    assert normalise_ray_flag(["d", "--ray", "ray://head:10001"]) == ["d", "--ray", "ray://head:10001"]
