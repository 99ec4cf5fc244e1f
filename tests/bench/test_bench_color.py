"""The colour benchmark's in-process part on a small generated slide with a profile: what each
mode serves, tile by tile."""

import numpy as np

from helpers import TESTDATA
from wsi_blueprint.bench import color, icc_profiles
from wsi_blueprint.bench.slidegen import SlideSpec, find_testdata, source_mosaic, write_slide
from wsi_blueprint.imaging.icc_embed import jpeg_segments


def test_per_tile_rows_of_every_mode(tmp_path):
    profile = icc_profiles.lut_profile(9)
    spec = SlideSpec("icc.svs", 1440, 1200, 1)
    source, _ = source_mosaic(find_testdata(TESTDATA))
    write_slide(str(tmp_path / spec.slide_id), spec, np.asarray(source), profile)
    rows = color.per_tile(str(tmp_path), spec.slide_id, count=6)
    by = {(r["mode"], r["tiles"]): r for r in rows}
    assert set(by) == {(m, k) for m in color.MODES for k in ("stored", "rendered")}
    # Embedding adds exactly the profile's APP2 segments to every tile, stored or rendered.
    for kind in ("stored", "rendered"):
        assert by["embed", kind]["bytes"] == by["raw", kind]["bytes"] + len(jpeg_segments(profile))
    # Converting decodes and encodes the stored tiles again: other bytes.
    assert by["srgb", "stored"]["bytes"] != by["raw", "stored"]["bytes"]
    table = color.to_markdown(rows, [])
    assert table.count("| icc.svs |") == len(color.MODES)
