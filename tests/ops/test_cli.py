"""`wsi-blueprint --version` and `sign`: the URLs it prints open what they promise."""

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata

import pytest

from helpers import testdata_path
from wsi_blueprint.app import create_app
from wsi_blueprint.bench.live_server import REPO_ROOT

CLI = [sys.executable, "-m", "wsi_blueprint.cli"]
SECRET = "k1:a-secret-of-the-cli-tests"
SLIDE = "CMU-1-Small-Region.svs"


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("WSI_")}
    full.update(env or {})
    return subprocess.run(CLI + list(args), cwd=REPO_ROOT, env=full, capture_output=True,
                          text=True, timeout=60)


def test_version_is_the_packages():
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"wsi-blueprint {metadata.version('wsi_blueprint')}"


@pytest.fixture
def client(tmp_path):
    for name in ("cases/1/a b.svs", "cases/1/c.svs", "cases/2/d.svs"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(testdata_path(SLIDE), tmp_path / name)
    return create_app({"WSI_STORE": f"file://{tmp_path}",
                       "WSI_AUTH_SECRET": SECRET}).test_client()


def test_sign_prefix_prints_the_listing_url_under_the_token(client):
    base = "http://wsi.example/pathology"
    done = run_cli("sign", "cases/1/", "--prefix", "--base-url", base + "/",
                   env={"WSI_AUTH_SECRET": SECRET})
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["slides"] == f"{base}/t/{answer['token']}/slides?prefix=cases/1/"
    assert "viewer" not in answer
    listing = client.get(answer["slides"].removeprefix(base))
    assert listing.status_code == 200
    assert [s["id"] for s in listing.json["slides"]] == ["cases/1/a b.svs", "cases/1/c.svs"]
    other = answer["slides"].removeprefix(base).replace("cases/1/", "cases/2/")
    assert client.get(other).status_code == 403


def test_sign_prints_the_viewer_url_of_one_slide(client):
    base = "http://wsi.example"
    done = run_cli("sign", "cases/1/a b.svs", "--base-url", base,
                   env={"WSI_AUTH_SECRET": SECRET})
    answer = json.loads(done.stdout)
    assert answer["viewer"] == f"{base}/t/{answer['token']}/view/cases/1/a%20b.svs"
    assert "slides" not in answer
    slide = client.get(f"/t/{answer['token']}/slides/cases/1/a%20b.svs")
    assert slide.status_code == 200 and slide.json["id"] == "cases/1/a b.svs"


def test_sign_with_a_bad_secret_is_one_line(client):
    done = run_cli("sign", "x.svs", env={"WSI_AUTH_SECRET": "k1:short"})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == ("WSI_AUTH_SECRET (value hidden) is not allowed: expected "
                                   "empty or kid:secret[,kid:secret...], every secret at least "
                                   "16 bytes")
