"""The whole formats data path over S3 (moto on loopback): no local file involved."""

import pytest

import synthetic
from helpers import testdata_path
from slide_access import open_slide
from tile_decoder import decode
from wsi_blueprint.bench.s3sim import SimulatedS3
from wsi_blueprint.counters import Counters

SLIDES = ["CMU-1-Small-Region.svs", "DAPI-fluorescence.ndpi", "TCGA-CR-7395-J2K-33005.svs"]


@pytest.fixture
def s3_slides(s3_server, s3_bucket):
    for name in SLIDES:
        with open(testdata_path(name), "rb") as f:
            s3_server.put(s3_bucket, f"cases/1/{name}", f.read())
    return s3_server, s3_bucket


@pytest.mark.parametrize("name", SLIDES)
def test_slide_parses_and_reads_from_s3(s3_slides, real_slide, name):
    server, bucket = s3_slides
    counters = Counters()
    slide = open_slide(f"s3://{bucket}", f"cases/1/{name}", counters,
                       s3_endpoint_url=server.endpoint)
    local = real_slide(name)
    assert slide.index == local.index
    opened = counters.get("store_requests")
    assert opened <= 6
    for number in range(len(slide.levels)):
        columns, rows = slide.tile_grid(number)
        coords = [(columns - 1, rows - 1), (0, 0)]
        remote_tiles = slide.read_tiles(number, coords)
        assert remote_tiles == local.read_tiles(number, coords)
        for tile in remote_tiles:
            assert decode(tile).shape[:2] == (tile.valid_height, tile.valid_width)
    for associated in slide.associated_names:
        assert slide.read_associated(associated) == local.read_associated(associated)
    print(f"{name} over S3: {opened:.0f} requests to open, "
          f"{counters.get('store_requests'):.0f} in all")


@pytest.mark.parametrize("name,requests", [
    ("CMU-1-Small-Region.svs", 2),      # its four directories all in the last four blocks
    ("TCGA-CR-7395-J2K-33005.svs", 2),  # its three too
    ("DAPI-fluorescence.ndpi", 3),      # the first of its six 1.5 MB from the end
])
def test_directories_after_their_images_are_read_with_the_files_tail(s3_slides, name,
                                                                     requests):
    """Scanners write each directory after its image, so the chain of directories ends in the
    file's last bytes: fetched while the chain is walked, they cost one request, not one a
    directory (the default blocks of 256 KiB, no read units)."""
    server, bucket = s3_slides
    counters = Counters()
    slide = open_slide(f"s3://{bucket}", f"cases/1/{name}", counters,
                       s3_endpoint_url=server.endpoint)
    assert slide.levels
    assert counters.get("store_requests") == requests  # the opening probe, the tail, ...


def test_a_pyramids_subifds_are_fetched_at_once(tmp_path):
    """A pyramid with its reduced levels in SubIFDs (libvips --subifd, OME-TIFF) names them
    all in its first directory: their directories are asked for together, not one store round
    trip after another as the walk reaches them. Uncompressed levels put four of them more
    than the file's tail (the last four blocks) before its end, each in a block of its own."""
    bucket = tmp_path / "slides"
    bucket.mkdir()
    source = synthetic.source_pixels(testdata_path("CMU-1-Small-Region.svs"))
    synthetic.write_pyramid(str(bucket / "spread.tiff"), source, "none", (1, 2, 3, 4, 6, 8),
                            subifds=True, bigtiff=True)
    local = open_slide("file://" + str(bucket), "spread.tiff")
    with SimulatedS3(str(tmp_path), latency_ms=50) as store:
        env = store.server_env()
        counters = Counters()
        slide = open_slide(env["WSI_STORE"], "spread.tiff", counters,
                           s3_endpoint_url=store.endpoint, s3_region=env["WSI_S3_REGION"])
        stats = store.stats()
        assert slide.index == local.index and len(slide.levels) == 6
        # The opening probe, then the tail beside the four directories out of it.
        assert stats["max_in_flight"] >= 5
        assert counters.get("store_requests") <= 7
        for number in range(len(slide.levels)):
            columns, rows = slide.tile_grid(number)
            assert slide.read_tiles(number, [(columns - 1, rows - 1)]) == \
                local.read_tiles(number, [(columns - 1, rows - 1)])
