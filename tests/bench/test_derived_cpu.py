"""CPU per derived tile beside the codecs' floor, on small generated slides (real H&E tiles)."""

import imagecodecs
import numpy as np
import pytest

from wsi_blueprint.bench import derived_cpu, traces


@pytest.fixture(scope="module")
def slide(small_slides):
    bench_slide = small_slides[0]
    return (derived_cpu.open_reader(bench_slide.path),
            traces.slide_info_from_file(bench_slide.path, bench_slide.slide_id))


def test_a_derived_tile_is_four_stored_tiles_decoded_at_half_scale(slide):
    reader, info = slide
    tiles = derived_cpu.derived_tiles(reader, info.derived_tiles(seed=1)[0], 6)
    assert len(tiles) == 6
    for tile in tiles:
        # The floor does the same work as the render: its four half-scale decodes, side by
        # side, are exactly the pixels the render encodes (no full-size decode and reduce).
        quarters = derived_cpu.floor_decode(tile)
        assert all(q.shape[:2] == tile.half[::-1] for q in quarters)
        floor = np.vstack([np.hstack(quarters[:2]), np.hstack(quarters[2:])])
        assert np.array_equal(floor, tile.pixels)
        # ... and the floor's one encode is the served tile, byte for byte.
        assert reader.region(tile.request) == imagecodecs.jpeg8_encode(tile.pixels,
                                                                        derived_cpu.QUALITY)


def test_the_measurement_reports_ours_beside_both_floors(slide):
    reader, info = slide
    row = derived_cpu.measure(reader, info, tiles=8, rounds=1, profile=True)
    assert row["tiles"] == 8 and row["rounds"] == 1
    assert "imaging/decode.py" in row["profile"]  # where the CPU went, by function
    assert min(row["ours_ms"], row["floor_ms"], row["pillow_floor_ms"]) > 0
    assert row["ratio"] == pytest.approx(row["ours_ms"] / row["floor_ms"], abs=0.01)
    lines = derived_cpu.report_lines(row)
    assert lines[0] == "## CPU per derived tile"
    assert f"| {row['slide']} | 8 | {row['ours_ms']:.2f} | {row['floor_ms']:.2f} |" in \
        "\n".join(lines)
    assert f"{row['ratio']:.2f}x the floor" in derived_cpu.summary(row)


def test_a_slide_without_such_tiles_is_skipped_with_the_reason(tmp_path):
    import tifffile

    path = tmp_path / "flat.tiff"  # one level of deflate tiles: nothing below a stored level
    tifffile.imwrite(path, np.full((512, 512, 3), 200, np.uint8), tile=(256, 256),
                     compression="zlib", photometric="rgb")
    info = traces.slide_info_from_file(str(path))
    row = derived_cpu.for_suite([type("S", (), {"path": str(path)})()], [info], quick=True)
    assert "no tissue tile below a stored level" in row["skipped"]
    assert derived_cpu.summary(row).startswith("CPU per derived tile: not measured")
