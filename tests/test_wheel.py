"""The wheel works outside the checkout: `pip install` of the built wheel (not editable) into a fresh venv gives a
`percept` command that runs the default graph on the bundled clip, with its graphs, model manifest and models
coming from the installed package (assets/ is package data, pyproject.toml).

The fresh venv takes its third-party dependencies from this environment's site-packages through a path file
(a path added that way has its own .pth files ignored, so this checkout's editable install stays invisible);
`pip check` then proves the wheel's declared dependencies are all there. Downloading torch and the rest again would
test PyPI, not the wheel."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"),
         str(REPO)], cwd=REPO)
    (wheel,) = (root / "dist").glob("percept-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])  # this pip installs into it (--python)
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "percept_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)])
    return venv


def test_installed_wheel_runs_the_bundled_clip(fresh_venv, tmp_path):
    python, percept = fresh_venv / "bin" / "python", fresh_venv / "bin" / "percept"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PERCEPT_ASSETS")}
    where = json.loads(run([str(python), "-c", "import json, app, pipeline.sources.auto as a; print(json.dumps("
                                               "[app.__file__, str(a.PEOPLE_SAMPLE)]))"], cwd=tmp_path, env=env).stdout)
    site = str(fresh_venv)
    assert all(p.startswith(site) for p in where), where  # the installed copy, not this checkout
    assert Path(where[1]).is_file()
    run([sys.executable, "-m", "pip", "--python", str(python), "check"], cwd=tmp_path, env=env)
    out = tmp_path / "out"
    run([str(percept), "run", "--source", where[1], "--headless", "--max-frames", "15", "--out", str(out),
         "--no-progress"], cwd=tmp_path, env=env)
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 15
    assert sum(len(r["persons"]) for r in lines) >= 15  # the clip shows one or two people on every frame
    assert any(p.get("face") for r in lines for p in r["persons"]) or any(p.get("keypoints") for r in lines
                                                                          for p in r["persons"])
    assert (out / "annotated.mp4").stat().st_size > 10_000
