"""The geometry stages that write "depth" (`stereo_depth`, `register_depth`) as graphs see them: where they sit in
the shipped graphs, what depends on them, and register_depth on its own (no recording needed)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from calibration.camera import Extrinsics, Intrinsics
from calibration.registration import DepthAligner
from pipeline.depth_stages import RegisterDepthStage, StereoDepthStage
from pipeline.graph import Graph, load_graph_config
from pipeline.packet import FramePacket
from pipeline.paths import asset
from pipeline.sources import open_source
from tests.calibration.graph_run import DirectRun, build_graph
from tests.conftest import data_path

DEPTH_CAM = Intrinsics(320, 240, 190.0, 190.0, 160.0, 120.0)
COLOR_CAM = Intrinsics(640, 480, 560.0, 560.0, 321.0, 239.0)


def shipped(name: str) -> Graph:
    from app.command_setup import load_builtin_stages

    load_builtin_stages()
    return Graph.from_config(load_graph_config(asset("graphs", f"{name}.yaml")))


def ancestors(graph: Graph, name: str) -> set[str]:
    seen, todo = set(), list(graph.nodes[name].parents)
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(graph.nodes[n].parents)
    return seen


def test_default_graph_lifts_depth_after_registration_and_stereo_matching():
    g = shipped("default")
    lift = next(n for n, node in g.nodes.items() if node.stage.type_name == "depth_lift")
    assert "register_depth" in g.nodes[lift].parents
    assert g.nodes["register_depth"].parents == ["stereo_depth"]  # both write depth: registration comes second
    assert {"stereo_depth", "register_depth", "pose"} <= ancestors(g, lift)
    assert g.order.index("stereo_depth") < g.order.index("register_depth") < g.order.index(lift)
    # people are found and posed without waiting for depth: that stage reads colour only
    assert not ({"stereo_depth", "register_depth"} & ancestors(g, "pose"))
    assert type(g.nodes["stereo_depth"].stage).stateless and type(g.nodes["register_depth"].stage).stateless


def test_every_shipped_graph_that_reads_depth_gets_it_from_the_stages():
    for path in sorted(asset("graphs").glob("*.yaml")):
        g = shipped(path.stem)
        readers = [n for n, node in g.nodes.items()
                   if "depth" in (*node.stage.inputs, *node.stage.optional_inputs)
                   and node.stage.type_name not in ("stereo_depth", "register_depth")]
        if readers:
            assert {"stereo_depth", "register_depth"} <= set(g.nodes), path.name
            for r in readers:
                assert "register_depth" in g.nodes[r].parents, (path.name, r)


def test_stages_pass_through_when_they_do_not_apply():
    color = np.zeros((24, 32, 3), np.uint8)
    aligned = FramePacket(0, 0.0, color, depth=np.ones((24, 32), np.uint16))
    no_calibration = FramePacket(0, 0.0, color, depth=np.ones((12, 16), np.uint16), depth_aligned=False,
                                 depth_intrinsics=Intrinsics(16, 12, 10, 10, 8, 6))  # no color intrinsics, no ext
    for packet in (FramePacket(0, 0.0, color), aligned, no_calibration):
        assert StereoDepthStage().process(packet) == {}
        assert RegisterDepthStage().process(packet) == {}


def test_register_depth_matches_the_aligner_and_caches_one_per_calibration():
    v, u = np.mgrid[0:240, 0:320]
    depth = (1500 + 3 * u + 2 * v).astype(np.uint16)
    depth[100:140, 150:170] = 800
    ext = Extrinsics(np.eye(3), np.array([-0.05, 0.0, 0.0]))
    color = np.zeros((480, 640, 3), np.uint8)

    def packet(e=ext):
        return FramePacket(0, 0.0, color, depth=depth, depth_scale=0.001, depth_aligned=False,
                           color_intrinsics=COLOR_CAM, depth_intrinsics=DEPTH_CAM, depth_to_color=e)

    stage = RegisterDepthStage(RegisterDepthStage.Params(cache_size=2))
    expected = DepthAligner(DEPTH_CAM, COLOR_CAM, ext).align(depth, 0.001)
    with ThreadPoolExecutor(4) as pool:  # several workers build and use the aligner at once
        results = list(pool.map(lambda _: stage.process(packet())["depth"].depth, range(8)))
    assert all(np.array_equal(r, expected) for r in results)
    assert stage.describe() == {"calibrations": 1}
    for dx in (0.01, 0.02, 0.03):
        stage.process(packet(Extrinsics(np.eye(3), np.array([dx, 0.0, 0.0]))))
    assert stage.describe() == {"calibrations": 2}  # bounded
    raw = RegisterDepthStage(RegisterDepthStage.Params(fill_cracks=False)).process(packet())["depth"].depth
    assert np.array_equal(raw, DepthAligner(DEPTH_CAM, COLOR_CAM, ext, fill_cracks=False).align(depth, 0.001))
    assert (raw == 0).sum() > (expected == 0).sum()


def test_bench_graph_on_a_stereo_source_without_the_scheduler(tmp_path):
    m = data_path("middlebury2003", "cones")
    (tmp_path / "L").mkdir()
    (tmp_path / "R").mkdir()
    cv2.imwrite(str(tmp_path / "L" / "0.png"), cv2.imread(str(m / "im2.png")))
    cv2.imwrite(str(tmp_path / "R" / "0.png"), cv2.imread(str(m / "im6.png")))
    from tests.calibration.test_stereo_source import rectified_rig

    run = DirectRun(shipped("bench"))
    with open_source(f"stereo:{rectified_rig(tmp_path)},left={tmp_path / 'L'},right={tmp_path / 'R'}") as src:
        p = run(src.read())
    assert p.depth is not None and p.depth_aligned and p.data["depth_valid"] > 0.9


def test_graph_params_reach_the_stages():
    g = build_graph({"name": "s", "type": "stereo_depth", "params": {"num_disparities": 128, "lr_tolerance_px": 0}},
                    {"name": "r", "type": "register_depth", "params": {"fill_cracks": False}})
    s, r = g.nodes["s"].stage, g.nodes["r"].stage
    assert s.estimator().params.num_disparities == 128 and s.estimator().params.lr_tolerance_px == 0
    assert r.params.fill_cracks is False
    assert g.nodes["r"].parents == ["s"]
    with pytest.raises(Exception, match="fill_crack"):
        build_graph({"name": "r", "type": "register_depth", "params": {"fill_crack": False}})
