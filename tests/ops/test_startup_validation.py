"""A wrong setting stops the server at start with one line naming it and what it accepts:
under gunicorn (conf/gunicorn.conf.py) before "Listening at", under `wsi-blueprint serve`,
in `wsi-blueprint check`, and in a host app registering the blueprint."""

import os
import subprocess
import sys

import pytest
from flask import Flask

from wsi_blueprint.bench.live_server import REPO_ROOT
from wsi_blueprint.bench.services import free_port
from wsi_blueprint.blueprint import create_blueprint
from wsi_blueprint.settings import SettingError

BAD = [
    ({"WSI_BLOCK_SIZE": "0"}, "WSI_BLOCK_SIZE='0'", "a power of two from 4K to 64M"),
    ({"WSI_BLOCK_SIZE": "-256K"}, "WSI_BLOCK_SIZE='-256K'", "a power of two"),
    ({"WSI_BLOCK_SIZE": "300K"}, "WSI_BLOCK_SIZE='300K'", "a power of two"),
    ({"WSI_CPU_THREADS": "-3"}, "WSI_CPU_THREADS='-3'", "a number from 0 to 1024"),
    ({"WSI_JPEG_QUALITY": "0"}, "WSI_JPEG_QUALITY='0'", "a number from 1 to 100"),
    ({"WSI_JPEG_QUALITY": "500"}, "WSI_JPEG_QUALITY='500'", "a number from 1 to 100"),
    ({"WSI_AUTH_SECRET": "k1:too-short"}, "WSI_AUTH_SECRET (value hidden)", "at least 16 bytes"),
    ({"WSI_AUTH_SECRET": "no-key-id-but-long-enough"}, "WSI_AUTH_SECRET (value hidden)",
     "kid:secret"),
    ({"WSI_PREFETCH_POLICIES": "full:50,fast:50"}, "WSI_PREFETCH_POLICIES",
     "unknown policy 'fast'"),
]


def clean_env(tmp_path, values: dict) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WSI_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(WSI_STORE=f"file://{tmp_path}", WEB_CONCURRENCY="1", **values)
    return env


@pytest.mark.parametrize("values, names, allowed", BAD)
def test_gunicorn_stops_with_one_line_before_listening(tmp_path, values, names, allowed):
    env = clean_env(tmp_path, {**values, "WSI_BIND": f"127.0.0.1:{free_port()}"})
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "conf/gunicorn.conf.py",
                           "wsgi:app"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0
    assert "Listening at" not in output and "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    assert names in output and allowed in output
    assert "too-short" not in output and "long-enough" not in output  # secrets stay secret


@pytest.mark.parametrize("values, names, allowed", [BAD[0], BAD[5], BAD[6]])
def test_serve_stops_with_one_line(tmp_path, values, names, allowed):
    done = subprocess.run([sys.executable, "-m", "wsi_blueprint.cli", "serve", str(tmp_path),
                           "--port", "0"], cwd=REPO_ROOT, env=clean_env(tmp_path, values),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stdout == "" and "Listening at" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert names in done.stderr and allowed in done.stderr
    assert os.listdir(tmp_path) == []  # stopped before writing the demo slide


def test_check_reports_a_bad_setting_as_a_fail_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "wsi_blueprint.cli", "check"], cwd=REPO_ROOT,
                          env=clean_env(tmp_path, {"WSI_BLOCK_SIZE": "0"}),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr == ""
    [line] = done.stdout.splitlines()
    assert line.startswith("FAIL  settings valid")
    assert line.endswith("ms  WSI_BLOCK_SIZE='0' is not allowed: expected a power of two from "
                         "4K to 64M")


def test_a_host_app_gets_a_clear_error_at_registration(tmp_path):
    app = Flask("host")
    app.config.update(WSI_STORE=f"file://{tmp_path}", WSI_JPEG_QUALITY=500)
    with pytest.raises(SettingError, match=r"WSI_JPEG_QUALITY=500 is not allowed: expected "
                                           r"a number from 1 to 100"):
        app.register_blueprint(create_blueprint(), url_prefix="/pathology")
