"""Generated slides of the layouts the real set lacks: multi-level SVS with JPEGTables (RGB
and YCbCr), JPEG 2000 33003/33005, BigTIFF SubIFD and OME-TIFF pyramids, main-chain pyramids
in every lossless codec, levels whose downsamples are not powers of two.

Every tile of every level is decoded and compared with the pixels that were written.
"""

import numpy
import pytest

from tile_decoder import assemble

# Mean absolute difference (0-255) between decoded and written pixels. Lossless codecs must
# give the pixels back exactly. JPEG at quality 90 and JPEG 2000 at 50 dB measured up to 5.7
# on the subsampled (so, high-frequency) reduced levels; a wrong or misplaced tile gives 30+.
LOSSY_MAD = 8.0

EXPECTED = {
    # name: (format, level downsamples, compression, photometric, tile size, associated)
    "aperio-jpeg-rgb.svs": ("aperio", (1, 4, 16), "jpeg", "rgb", 240,
                            ["label", "macro", "thumbnail"]),
    "aperio-jpeg-ycbcr.svs": ("aperio", (1, 4, 16), "jpeg", "ycbcr", 240,
                              ["label", "macro", "thumbnail"]),
    "aperio-j2k-33003.svs": ("aperio", (1, 4, 16), "jpeg2000", "ycbcr", 240,
                             ["label", "macro", "thumbnail"]),
    "aperio-j2k-33005.svs": ("aperio", (1, 4, 16), "jpeg2000", "rgb", 240,
                             ["label", "macro", "thumbnail"]),
    "subifd-bigtiff.tiff": ("generic-tiff", (1, 3, 9), "jpeg", "ycbcr", 128, []),
    "ome-subifd.ome.tif": ("generic-tiff", (1, 2, 4), "deflate", "rgb", 256, []),
    "pyramid-zlib.tiff": ("generic-tiff", (1, 2, 5), "deflate", "rgb", 256, []),
    "pyramid-lzw.tiff": ("generic-tiff", (1, 2, 5), "lzw", "rgb", 256, []),
    "pyramid-zstd.tiff": ("generic-tiff", (1, 2, 5), "zstd", "rgb", 256, []),
    "pyramid-webp.tiff": ("generic-tiff", (1, 2, 5), "webp", "rgb", 256, []),
    "pyramid-none.tiff": ("generic-tiff", (1, 2, 5), "none", "rgb", 256, []),
}
LOSSLESS = {"deflate", "lzw", "zstd", "none"}


def _mad(a: numpy.ndarray, b: numpy.ndarray) -> float:
    return float(numpy.abs(a.astype(int) - b.astype(int)).mean())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_level_geometry(synthetic_slides, name):
    format_, factors, compression, photometric, tile, associated = EXPECTED[name]
    slide = synthetic_slides.open(name)
    stored = synthetic_slides.stored[name]["levels"]
    assert slide.index.format == format_
    assert len(slide.levels) == len(factors)
    for level, pixels, factor in zip(slide.levels, stored, factors):
        assert (level.height, level.width) == pixels.shape[:2]
        assert (level.tile_width, level.tile_height) == (tile, tile)
        assert level.downsample == pytest.approx(factor, rel=0.01)
        assert (level.encoding.compression, level.encoding.photometric) == (compression,
                                                                             photometric)
    assert slide.associated_names == associated


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_tile_decodes_to_the_written_pixels(synthetic_slides, name):
    compression = EXPECTED[name][2]
    slide = synthetic_slides.open(name)
    for number, (level, written) in enumerate(zip(slide.levels,
                                                  synthetic_slides.stored[name]["levels"])):
        columns, rows = slide.tile_grid(number)
        tiles = slide.read_tiles(number, [(c, r) for r in range(rows) for c in range(columns)])
        pixels = assemble(tiles, level.width, level.height)[..., :3]
        if compression in LOSSLESS:
            assert numpy.array_equal(pixels, written), number
        else:
            assert _mad(pixels, written) <= LOSSY_MAD, number


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if n.startswith("aperio")])
def test_aperio_metadata_and_associated_images(synthetic_slides, name):
    slide = synthetic_slides.open(name)
    assert slide.index.mpp == pytest.approx((0.499, 0.499))
    assert slide.index.objective_power == 20
    assert slide.index.properties["aperio.ScanScope ID"] == "SYNTHETIC"
    for associated in slide.associated_names:
        image = slide.index.associated[associated]
        written = synthetic_slides.stored[name][associated]
        pixels = assemble(slide.read_associated(associated), image.width, image.height)
        assert pixels.shape[:2] == written.shape[:2]
        if associated == "label":  # LZW strips with a predictor
            assert numpy.array_equal(pixels, written)
        else:
            assert _mad(pixels, written) <= LOSSY_MAD


def test_aperio_rgb_jpeg_is_passed_on_as_stored(synthetic_slides):
    """Aperio's RGB JPEG: component ids 0, 1, 2 and no Adobe marker. The tile keeps its
    stream as stored (tables spliced in) and says 'rgb', for imaging to mark it."""
    tile = synthetic_slides.open("aperio-jpeg-rgb.svs").read_tiles(0, [(0, 0)])[0]
    assert tile.photometric == "rgb"
    assert b"\xff\xee" not in tile.data[:200] and b"\xff\xdb" in tile.data[:200]
    sof = tile.data.index(b"\xff\xc0")
    assert [tile.data[sof + 10 + 3 * i] for i in range(3)] == [0, 1, 2]


def test_sparse_tiles_are_marked(synthetic_slides):
    slide = synthetic_slides.open("sparse.tiff")
    sparse, stored = slide.read_tiles(0, [(1, 1), (0, 0)])
    assert sparse.sparse and sparse.data == b""
    assert not stored.sparse and stored.data
