"""`wsi-blueprint check` against the S3 test server and memcached, and with each one down."""

import os
import subprocess
import sys

import pytest

from helpers import testdata_path

CLI = [sys.executable, "-m", "wsi_blueprint.cli"]


def run_check(env: dict, *args) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("WSI_")}
    full.update(env)
    return subprocess.run(CLI + ["check", *args], env=full, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def s3_env(s3_server, s3_bucket):
    s3_server.put(s3_bucket, "cases/1/he.svs",
                  open(testdata_path("CMU-1-Small-Region.svs"), "rb").read())
    return {"WSI_STORE": f"s3://{s3_bucket}", "WSI_S3_ENDPOINT_URL": s3_server.endpoint,
            "WSI_STORE_RETRIES": "0", "WSI_STORE_CONNECT_TIMEOUT": "1"}


def outcomes(run) -> dict:
    return {line[6:32].strip(): line[:4].strip() for line in run.stdout.splitlines()}


def test_every_step_passes_with_s3_and_memcached(s3_env, memcached):
    run = run_check({**s3_env, "WSI_MEMCACHED": memcached.address})
    assert run.returncode == 0, run.stdout + run.stderr
    assert set(outcomes(run).values()) == {"PASS"} and len(outcomes(run)) == 6
    assert "'cases/1/he.svs': aperio, 2220x2967" in run.stdout


def test_memcached_down_fails_clearly(s3_env, memcached):
    memcached.stop()
    run = run_check({**s3_env, "WSI_MEMCACHED": memcached.address})
    assert run.returncode == 1
    assert outcomes(run)["memcached reachable"] == "FAIL"
    assert f"{memcached.address} of {memcached.address} do not answer" in run.stdout
    assert outcomes(run)["tile fetched"] == "PASS"  # serving goes on without memcached


def test_store_down_fails_clearly(s3_env):
    env = {**s3_env, "WSI_S3_ENDPOINT_URL": "http://127.0.0.1:1"}
    run = run_check(env)
    assert run.returncode == 1
    assert outcomes(run)["store reachable"] == "FAIL" and "store" in run.stdout
    assert outcomes(run)["tile fetched"] == "SKIP"


def test_a_missing_slide_fails(s3_env):
    run = run_check(s3_env, "--slide", "cases/9/none.svs")
    assert run.returncode == 1 and "slide_not_found" in run.stdout
