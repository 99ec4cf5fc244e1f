"""The official IIIF validator (PyPI iiif-validator) against the live server, level 2.

The validator checks pixels against its own 1000x1000 image of 10x10 coloured squares; we build
that image from the validator's colour table as a lossless tiled TIFF pyramid, put it in the S3
test server under the identifier the validator expects, and serve it from there.
"""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from iiif_validator.validator import ValidationInfo
from PIL import ImageCms

from live_server import LiveServer

IDENTIFIER = "67352ccc-d1b0-11e1-89ae-279075081939"


def validator_image() -> bytes:
    colours = ValidationInfo().colorInfo  # colours[column][row]
    pixels = np.zeros((1000, 1000, 3), np.uint8)
    for column in range(10):
        for row in range(10):
            square = (slice(row * 100, (row + 1) * 100), slice(column * 100, (column + 1) * 100))
            pixels[square] = colours[column][row]
    # An sRGB profile, so that info.json names it (wsi:iccProfile) for the validator to
    # accept; sRGB in effect, the images are served as stored.
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    with tifffile.TiffWriter(out) as tiff:
        tiff.write(pixels, tile=(256, 256), compression="zlib", photometric="rgb",
                   subfiletype=0, extratags=[(34675, 7, len(profile), profile, True)])
        tiff.write(pixels[::2, ::2], tile=(256, 256), compression="zlib", photometric="rgb",
                   subfiletype=1)
    return out.getvalue()


@pytest.fixture(scope="module")
def server(s3_server, tmp_path_factory):
    bucket = s3_server.new_bucket()
    s3_server.put(bucket, IDENTIFIER, validator_image())
    live = LiveServer(tmp_path_factory.mktemp("empty"), workers=1, env={
        "WSI_STORE": f"s3://{bucket}", "WSI_S3_ENDPOINT_URL": s3_server.endpoint,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}).start()
    yield live
    live.stop()


def validator_script() -> str:
    script = os.path.join(os.path.dirname(sys.executable), "iiif-validate.py")
    assert os.path.exists(script), "iiif-validator is a test dependency: pip install '.[test]'"
    return script


@pytest.mark.parametrize("version,prefix", [("3.0", "iiif/3"), ("2.0", "iiif/2")])
def test_every_level_2_test_passes(server, version, prefix):
    run = subprocess.run(
        [sys.executable, validator_script(), "-s", server.url.split("//")[1].rstrip("/"),
         "-p", prefix, "-i", IDENTIFIER, "--version", version, "--level", "2"],
        capture_output=True, text=True, timeout=300)
    report = run.stdout + run.stderr
    passed = re.findall(r"test (\S+) PASS", report)
    failed = re.findall(r"test (\S+) FAIL", report)
    assert run.returncode == 0 and not failed, report[-6000:]
    assert len(passed) >= 30, report[-3000:]  # every level-2 test of the version ran
