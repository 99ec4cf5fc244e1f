"""The hot-path benchmark: native tile paths, the ceiling app, pinned servers, a real pair."""

import json
import os

import requests

from wsi_blueprint.bench import hot_path, traces
from wsi_blueprint.bench.ceiling_app import SIZES_ENV, create_app, tile_paths
from wsi_blueprint.bench.live_server import LiveServer
from wsi_blueprint.security.tokens import TokenSigner, parse_secrets


def _infos(slides):
    return [traces.slide_info_from_file(s.path, s.slide_id) for s in slides]


def test_native_tile_paths_are_distinct_tiles_of_stored_levels(small_slides):
    infos = {i.slide_id: i for i in _infos(small_slides)}
    paths = hot_path.native_tile_paths(list(infos.values()), 60)
    assert len(paths) == len(set(paths)) == 60
    for path in paths:
        slide_id, rest = path[len("dzi/"):].split("_files/")
        level, tile = rest.split("/")
        info = infos[slide_id]
        col, row = map(int, tile[:-len(".jpeg")].split("_"))
        assert info.geometry.scale(int(level)) in info.native
        cols, rows = info.geometry.grid(int(level))
        assert 0 <= col < cols and 0 <= row < rows
    assert {p.split("_files/")[0] for p in paths[:2]} == {f"dzi/{s}" for s in infos}


def test_native_tile_paths_as_iiif_are_the_same_tiles_as_info_json_names_them(small_slides):
    infos = _infos(small_slides)
    dzi = hot_path.native_tile_paths(infos, 60)
    iiif = hot_path.native_tile_paths(infos, 60, protocol="iiif")
    assert len(set(iiif)) == 60
    for dzi_path, iiif_path in zip(dzi, iiif):
        slide_id, rest = dzi_path[len("dzi/"):].split("_files/")
        level, tile = rest.split("/")
        col, row = map(int, tile[:-len(".jpeg")].split("_"))
        info = next(i for i in infos if i.slide_id == slide_id)
        assert iiif_path == traces.iiif_tile_url(slide_id, info.geometry, int(level), col, row)
        assert iiif_path.startswith(f"iiif/3/{slide_id}/") and \
            iiif_path.endswith("/0/default.jpg")


def test_the_ceiling_app_hands_out_bodies_of_the_sizes_given(tmp_path, monkeypatch):
    listing = tmp_path / "sizes.json"
    listing.write_text(json.dumps([10, 2000, 7]))
    monkeypatch.setenv(SIZES_ENV, str(listing))
    client = create_app().test_client()
    bodies = [client.get(f"/{path}") for path in tile_paths(5, 3)]
    assert [len(r.data) for r in bodies] == [10, 2000, 7, 10, 2000]
    assert all(r.status_code == 200 and r.mimetype == "image/jpeg" for r in bodies)
    # distinct bytes per body, so nothing between could answer them all from one copy
    assert bodies[0].data == bytes([0]) * 10 and bodies[2].data == bytes([2]) * 7


def test_a_pinned_server_runs_every_worker_on_its_cpus(tmp_path):
    listing = tmp_path / "sizes.json"
    listing.write_text("[100]")
    with LiveServer(None, workers=2, env={SIZES_ENV: str(listing)}, app=hot_path.CEILING_APP,
                    cpus="0") as server:
        assert requests.get(server.url + "tile/0", timeout=10).content == bytes(100)
        pids = [server.process.pid]
        with open(f"/proc/{pids[0]}/task/{pids[0]}/children") as f:
            pids += [int(p) for p in f.read().split()]
        assert len(pids) == 3  # the master and its two workers
        for pid in pids:
            assert os.sched_getaffinity(pid) == {0}


def test_with_access_control_every_url_carries_a_token_and_is_answered(small_slides):
    """`--access-control`: our server checks tokens, and the tiles, each asked with one in its
    path, are all cache hits: none refused."""
    secret = "bench:" + "s" * 48
    token = TokenSigner(parse_secrets(secret)).sign("", prefix=True, expires_in=600)
    infos = _infos(small_slides)
    paths = hot_path.with_token(hot_path.native_tile_paths(infos, 20, protocol="iiif"), token)
    assert all(p.startswith(f"t/{token}/iiif/3/") for p in paths)
    root = small_slides[0].path[:-len(small_slides[0].slide_id)]
    with LiveServer(root, workers=1, env={"WSI_AUTH_SECRET": secret}) as server:
        assert requests.get(server.url + paths[0][len(f"t/{token}/"):],
                            timeout=10).status_code == 401  # tokens are checked
    (result,) = hot_path.scaling(
        lambda cpus: LiveServer(root, workers=2, cpus=cpus, env={"WSI_AUTH_SECRET": secret}),
        infos, [None], ["iiif"], 20, token=token, pairs=1, seconds=1, connections=4,
        log=lambda *a: None)
    assert result["access_control"] and result["protocol"] == "iiif"
    assert result["errors"] == 0 and result["tile_misses"] == 0 and result["cached_rps"] > 0
    assert "| iiif (token) | all |" in "\n".join(hot_path.markdown([result]))
