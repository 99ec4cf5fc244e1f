"""The viewer's OpenSeadragon files come with the package build (never committed): a wheel
built from a clean source tree carries them; a server whose package lacks them all the same
says so at start, in /readyz and on /view."""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest
import requests

from helpers import testdata_path
from wsi_blueprint.bench.live_server import REPO_ROOT, GunicornServer
from wsi_blueprint.viewer import assets

SLIDE = "CMU-1-Small-Region.svs"
VENDOR = os.path.relpath(assets.VENDOR, REPO_ROOT)


@pytest.fixture
def clean_source(tmp_path):
    """The checkout's files as a fresh clone has them: no OpenSeadragon, no build output."""
    tree = tmp_path / "source"
    shutil.copytree(REPO_ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", ".tox", "build", "dist", "*.egg-info", "__pycache__", "vendor", "node_modules",
        "bench-report", "slides"))
    assert not (tree / VENDOR).exists()
    return tree


def test_the_wheel_carries_openseadragon(clean_source, tmp_path):
    """Built as `pip wheel` builds it; --no-build-isolation only because the build tools are
    already in this environment."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path / "wheels"),
                           str(clean_source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = os.listdir(tmp_path / "wheels")
    with zipfile.ZipFile(tmp_path / "wheels" / wheel) as archive:
        names = set(archive.namelist())
        script = archive.read(f"{VENDOR}/{assets.MAIN_SCRIPT}")
    assert f"{VENDOR}/images/home_rest.png" in names
    assert b"OpenSeadragon" in script[:2000] and len(script) > 100_000
    assert not (clean_source / VENDOR).exists()  # the build put them in the wheel only


SDIST = "from setuptools import build_meta; print(build_meta.build_sdist({out!r}))"


def test_the_sdist_carries_openseadragon_so_its_wheel_needs_no_npm(clean_source, tmp_path):
    """Built by the PEP 517 backend, as `python -m build --sdist` builds it."""
    out = tmp_path / "sdist"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", SDIST.format(out=str(out))], cwd=clean_source,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    name = done.stdout.strip().splitlines()[-1]
    with tarfile.open(out / name) as archive:
        names = set(archive.getnames())
        archive.extractall(tmp_path / "unpacked", filter="data")
    top = name.removesuffix(".tar.gz")
    assert f"{top}/{VENDOR}/{assets.MAIN_SCRIPT}" in names
    assert not (clean_source / VENDOR).exists()
    # A wheel from the sdist on a machine without npm (none on PATH) still has the files.
    wheels = tmp_path / "wheels"
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(wheels),
                           str(tmp_path / "unpacked" / top)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = os.listdir(wheels)
    with zipfile.ZipFile(wheels / wheel) as archive:
        assert f"{VENDOR}/{assets.MAIN_SCRIPT}" in archive.namelist()


def test_a_server_without_the_viewer_files_says_so(clean_source, tmp_path):
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(testdata_path(SLIDE), slides / SLIDE)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WSI_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(WSI_STORE=f"file://{slides}", WEB_CONCURRENCY="1", PYTHONUNBUFFERED="1")

    def args(port: int) -> list[str]:
        env["WSI_BIND"] = f"127.0.0.1:{port}"
        return ["-c", "conf/gunicorn.conf.py", "wsgi:app"]

    # Run from the copy: `python -m gunicorn` imports the package of its working folder.
    with GunicornServer(args=args, env=env, cwd=str(clean_source)) as server:
        ready = requests.get(server.url + "readyz", timeout=10)
        view = requests.get(server.url + f"view/{SLIDE}", timeout=30)
        slide = requests.get(server.url + f"slides/{SLIDE}", timeout=30)
        log = server.log
    assert "viewer's OpenSeadragon files are missing" in log
    assert log.index("OpenSeadragon files are missing") < log.index("Listening at")
    assert ready.status_code == 200
    assert ready.json()["viewer"] == "OpenSeadragon files missing"
    assert view.status_code == 503 and view.json()["error"] == "viewer_unavailable"
    assert slide.status_code == 200  # the API serves without the viewer
