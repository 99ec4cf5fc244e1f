"""The IIIF request grammar, version by version."""

import pytest

from wsi_blueprint.errors import BadRequest, TooLarge
from wsi_blueprint.protocols.iiif_request import Limits, parse_request

LIMITS = Limits(4000, 4000, 10_000_000)


def req(region="full", size="max", rotation="0", quality="default", fmt="jpg", version=3,
        width=2000, height=1000):
    return parse_request(region, size, rotation, quality, fmt, width, height, version, LIMITS)


@pytest.mark.parametrize("region,expected", [
    ("full", (0, 0, 2000, 1000)),
    ("square", (500, 0, 1000, 1000)),
    ("10,20,300,400", (10, 20, 300, 400)),
    ("1900,900,500,500", (1900, 900, 100, 100)),  # clipped at the image edge
    ("pct:10,10,50,50", (200, 100, 1000, 500)),
    ("pct:0.5,0,1.5,100", (10, 0, 30, 1000)),
])
def test_regions(region, expected):
    r = req(region=region)
    assert (r.x, r.y, r.width, r.height) == expected


@pytest.mark.parametrize("region", ["2000,0,10,10", "0,0,0,10", "pct:0,0,0,5", "a,b,c,d",
                                    "10,10,10", "-1,0,5,5", "pct:x", "fulll"])
def test_bad_regions(region):
    with pytest.raises(BadRequest):
        req(region=region)


@pytest.mark.parametrize("size,expected", [
    ("max", (2000, 1000)), ("500,", (500, 250)), (",100", (200, 100)), ("pct:25", (500, 250)),
    ("300,300", (300, 300)), ("!500,500", (500, 250)), ("^3000,", (3000, 1500)),
    ("^max", (2000, 1000)), ("^pct:150", (3000, 1500)), ("^!4000,1000", (2000, 1000)),
])
def test_sizes_3(size, expected):
    r = req(size=size)
    assert (r.out_width, r.out_height) == expected


@pytest.mark.parametrize("size", ["3000,", ",2000", "pct:101", "2001,1000", "!4000,4000",
                                  "full", "0,", ",0", "pct:0", "!500,", "abc", ",", "^"])
def test_bad_sizes_3(size):
    with pytest.raises(BadRequest):
        req(size=size)


def test_version_2_upscales_freely_and_knows_full():
    assert (req(size="full", version=2).out_width, req(size="3000,", version=2).out_width) == (
        2000, 3000)
    with pytest.raises(BadRequest):
        req(size="^max", version=2)


def test_max_fits_the_server_limits():
    r = req(size="max", width=100_000, height=50_000)
    assert (r.out_width, r.out_height) == (4000, 2000)
    with pytest.raises(TooLarge):
        req(size="^5000,", width=100_000, height=50_000)


@pytest.mark.parametrize("rotation,expected", [("0", (0, False)), ("90", (90, False)),
                                               ("!180", (180, True)), ("270.0", (270, False)),
                                               ("360", (0, False))])
def test_rotations(rotation, expected):
    r = req(rotation=rotation)
    assert (r.rotation, r.mirror) == expected


@pytest.mark.parametrize("rotation", ["45", "-90", "abc", "!!90", "450", ""])
def test_bad_rotations(rotation):
    with pytest.raises(BadRequest):
        req(rotation=rotation)


def test_quality_and_format():
    assert (req(quality="gray", fmt="png").quality, req(fmt="webp").format) == ("gray", "webp")
    for quality, fmt in [("grey", "jpg"), ("default", "gif"), ("default", "tif")]:
        with pytest.raises(BadRequest):
            req(quality=quality, fmt=fmt)


def test_only_unrotated_colour_jpeg_may_pass_through():
    assert req().is_plain and req(quality="color").is_plain
    assert not any(r.is_plain for r in (req(rotation="90"), req(rotation="!0"),
                                        req(quality="gray"), req(fmt="png")))
