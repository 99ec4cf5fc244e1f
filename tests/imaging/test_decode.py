import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image

from helpers import testdata_path as slide_path
from imaging.support import mean_abs_diff, openslide_region, page_tile, replace, tile_at
from wsi_blueprint.errors import CorruptSlide, UnsupportedFormat
from wsi_blueprint.formats.tile import EncodedTile
from wsi_blueprint.imaging.decode import decode

CMU = "CMU-1-Small-Region.svs"  # 2220x2967, 240 px RGB JPEG tiles, 10 columns, 13 rows


def check_contract(pixels, width, height):
    assert pixels.shape == (height, width, 3) and pixels.dtype == np.uint8
    assert pixels.flags.c_contiguous


def test_aperio_rgb_jpeg_tile_matches_openslide():
    path = slide_path(CMU)
    pixels = decode(tile_at(path, 23))  # column 3, row 2
    check_contract(pixels, 240, 240)
    assert mean_abs_diff(pixels, openslide_region(path, 720, 480, 0, 240, 240)) < 1


@pytest.mark.parametrize("index, width, height", [(9, 60, 240), (120, 240, 87), (129, 60, 87)])
def test_edge_tiles_are_cropped_to_the_image(index, width, height):
    path = slide_path(CMU)
    pixels = decode(tile_at(path, index))
    check_contract(pixels, width, height)
    col, row = index % 10, index // 10
    reference = openslide_region(path, col * 240, row * 240, 0, width, height)
    assert mean_abs_diff(pixels, reference) < 1


@pytest.mark.parametrize("reduce", [2, 3, 4, 6, 8])
def test_reduced_decode_matches_an_area_average_of_the_full_tile(reduce):
    path = slide_path(CMU)
    tile = tile_at(path, 129)  # an edge tile, 60x87 valid: sizes round up
    small = decode(tile, reduce=reduce)
    check_contract(small, -(-60 // reduce), -(-87 // reduce))
    average = np.asarray(Image.fromarray(decode(tile)).reduce(reduce))
    # DCT scaling filters a little differently from a box average, never by much.
    assert mean_abs_diff(small, average) < 1.5


def test_jpeg2000_rgb_33005_matches_openslide():
    path = slide_path("TCGA-CR-7395-J2K-33005.svs")
    tile = tile_at(path, 20)  # 18 columns of 256 px: column 2, row 1
    assert tile.compression == "jpeg2000" and tile.photometric == "rgb"
    pixels = decode(tile)
    check_contract(pixels, 256, 256)
    assert mean_abs_diff(pixels, openslide_region(path, 512, 256, 0, 256, 256)) < 1


def test_jpeg2000_ycbcr_33003_is_converted_to_rgb():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, :32] = (190, 60, 140)
    rgb[:, 32:] = (40, 170, 220)
    ycbcr = np.asarray(Image.fromarray(rgb).convert("YCbCr"))
    stream = imagecodecs.jpeg2k_encode(ycbcr, 100, codecformat="J2K", mct=False)
    tile = EncodedTile(stream, "jpeg2000", 64, 64, 64, 64, "ycbcr")
    assert mean_abs_diff(decode(tile), rgb) < 2
    assert mean_abs_diff(decode(replace(tile, photometric="rgb")), ycbcr) < 1


def test_deflate_with_horizontal_predictor_from_a_real_slide():
    path = slide_path("boxes.tiff")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]  # 300x250, 64 px tiles, predictor 2
        expected = page.asarray()
        tile = page_tile(page, 4)  # column 4 of 5: an edge tile 44 px wide
    assert tile.predictor == 2 and tile.compression == "deflate"
    np.testing.assert_array_equal(decode(tile), expected[:64, 256:300])


def test_16_bit_grey_lzw_strip_keeps_the_top_8_bits():
    path = slide_path("not-a-slide.tif")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        expected = page.asarray()
        tile = page_tile(page, 0)
    assert (tile.bits, tile.samples, tile.compression) == (16, 1, "lzw")
    pixels = decode(tile)
    rows = tile.valid_height
    check_contract(pixels, 640, rows)
    top = (expected[:rows] >> 8).astype(np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(pixels[:, :, channel], top)


CODEC_CASES = [(c, p, "rgb") for c, p in [("zlib", False), ("zlib", True), ("lzw", True),
                                           ("zstd", False), ("zstd", True), (None, False),
                                           ("webp", False)]]
CODEC_CASES += [(c, p, "grey16") for c, p, _ in CODEC_CASES if c != "webp"]  # WebP is 8-bit


@pytest.mark.parametrize("compression, predictor, kind", CODEC_CASES)
def test_generic_tiff_codecs_decode_exactly(tmp_path, compression, predictor, kind):
    rng = np.random.default_rng(7)
    if kind == "rgb":
        image = rng.integers(0, 256, (100, 90, 3), dtype=np.uint8)
        expected = image
    else:
        image = rng.integers(0, 65536, (100, 90), dtype=np.uint16)
        expected = np.repeat((image >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
    path = tmp_path / "image.tif"
    options = {"compressionargs": {"lossless": True}} if compression == "webp" else {}
    tifffile.imwrite(path, image, tile=(32, 32), compression=compression, predictor=predictor,
                     photometric="rgb" if kind == "rgb" else "minisblack", **options)
    with tifffile.TiffFile(path) as tif:
        tiles = [page_tile(tif.pages[0], i) for i in range(12)]  # 3 columns, 4 rows
    canvas = np.zeros((100, 90, 3), np.uint8)
    for i, tile in enumerate(tiles):
        row, col = divmod(i, 3)
        pixels = decode(tile)
        canvas[row * 32:row * 32 + pixels.shape[0], col * 32:col * 32 + pixels.shape[1]] = pixels
    np.testing.assert_array_equal(canvas, expected)


def test_grey_jpeg_becomes_three_equal_channels():
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    tile = EncodedTile(imagecodecs.jpeg8_encode(grey, 95), "jpeg", 64, 64, 64, 64, "minisblack",
                       samples=1)
    for reduce in (1, 2):
        pixels = decode(tile, reduce=reduce)
        assert (pixels[:, :, 0] == pixels[:, :, 2]).all()
    assert mean_abs_diff(decode(tile)[:, :, 1], grey) < 1


def test_12_bit_jpeg_keeps_the_top_8_bits_also_when_reduced():
    grey = (np.arange(64 * 64).reshape(64, 64) % 4096).astype(np.uint16)
    stream = imagecodecs.jpeg8_encode(grey, 95, bitspersample=12)
    tile = EncodedTile(stream, "jpeg", 64, 64, 64, 64, "minisblack", samples=1, bits=12)
    assert mean_abs_diff(decode(tile)[:, :, 0], (grey >> 4).astype(np.uint8)) < 1
    check_contract(decode(tile, reduce=2), 32, 32)


def test_sparse_tiles_are_background():
    tile = EncodedTile(b"", "jpeg", 256, 256, 100, 256, "ycbcr", sparse=True)
    check_contract(decode(tile), 100, 256)
    assert (decode(tile) == 255).all()
    assert (decode(tile, reduce=4, background=(0, 0, 0)) == 0).all()
    assert decode(tile, reduce=4).shape == (64, 25, 3)
    assert (decode(tile, background=(10, 20, 30)) == (10, 20, 30)).all()


def test_corrupt_tile_of_a_real_slide_is_422():
    tile = tile_at(slide_path("corrupt-tile.svs"), 0)
    with pytest.raises(CorruptSlide) as info:
        decode(tile)
    assert info.value.status == 422


def test_broken_data_is_never_passed_off_as_pixels():
    jpeg = imagecodecs.jpeg8_encode(np.full((64, 64, 3), 80, np.uint8), 90)
    good = EncodedTile(jpeg, "jpeg", 64, 64, 64, 64, "ycbcr")
    raw = EncodedTile(imagecodecs.zlib_encode(bytes(64 * 64 * 3)), "deflate", 64, 64, 64, 64,
                      "rgb")
    broken = [
        replace(good, data=jpeg[:len(jpeg) // 2]),                 # truncated
        replace(good, data=jpeg[:200] + b"\xff\x00" * 100 + jpeg[400:]),
        replace(good, data=b"not a jpeg at all"),
        replace(good, width=128, height=128, valid_width=128, valid_height=128),  # too small
        replace(raw, data=raw.data[:20] + b"garbage" + raw.data[27:]),
        replace(raw, data=imagecodecs.zlib_encode(bytes(64 * 10 * 3))),  # too few rows
        EncodedTile(b"\xff\x4f\xff\x51garbage", "jpeg2000", 64, 64, 64, 64, "rgb"),
        EncodedTile(b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp", 64, 64, 64, 64, "rgb"),
    ]
    assert decode(good).shape == (64, 64, 3)
    for tile in broken:
        with pytest.raises(CorruptSlide):
            decode(tile, reduce=1)
        with pytest.raises(CorruptSlide):
            decode(tile, reduce=2)


def test_a_raw_tile_decompresses_no_more_than_its_size():
    """A stream cut to its first byte made the codec grow its buffer until memory ran out
    (found by the parser fuzzer), and a small stream may expand to gigabytes: both stop at the
    tile's own size and are 422s."""
    bomb = {"deflate": imagecodecs.zlib_encode(bytes(2 ** 27)),   # 128 MiB from 128 kB
            "zstd": imagecodecs.zstd_encode(bytes(2 ** 27))}
    for compression in ("deflate", "zstd"):
        tile = EncodedTile(bomb[compression], compression, 64, 64, 64, 64, "rgb")
        with pytest.raises(CorruptSlide):
            decode(tile)
    cut = EncodedTile(imagecodecs.zlib_encode(bytes(64 * 64 * 3))[:1], "deflate", 64, 64, 64,
                      64, "rgb")
    with pytest.raises(CorruptSlide):
        decode(cut)
    # A tile claiming to be enormous is refused from its numbers, before any codec allocates.
    for compression, data in (("deflate", bomb["deflate"]), ("jpeg", imagecodecs.jpeg8_encode(
            np.zeros((8, 8, 3), np.uint8)))):
        huge = EncodedTile(data, compression, 2 ** 32 - 1, 2 ** 32 - 1, 64, 64, "rgb")
        with pytest.raises(UnsupportedFormat, match="larger than this server decodes"):
            decode(huge)
    # LZW stops at the size asked: the tile's rows, and no more, come out.
    lzw = EncodedTile(imagecodecs.lzw_encode(bytes(range(256)) * 2 ** 12), "lzw", 64, 64, 64,
                      64, "rgb")
    assert decode(lzw).shape == (64, 64, 3)


def test_a_jpeg_claiming_more_pixels_than_its_tile_is_refused_before_decoding():
    """Four bytes of a tile's frame header can claim 60000 x 60000 pixels: 10 GiB the codec
    would allocate before finding the data short. Refused from the header, at every scale and
    at 12 bits too."""
    for bits, jpeg in ((8, imagecodecs.jpeg8_encode(np.full((64, 64, 3), 80, np.uint8), 90)),
                       (12, imagecodecs.jpeg8_encode(np.full((64, 64), 800, np.uint16), 90,
                                                     bitspersample=12))):
        claimed = bytearray(jpeg)
        sof = max(claimed.find(b"\xff\xc0"), claimed.find(b"\xff\xc1"))
        claimed[sof + 5:sof + 9] = (60000).to_bytes(2, "big") * 2  # height, width
        tile = EncodedTile(bytes(claimed), "jpeg", 64, 64, 64, 64,
                           "ycbcr" if bits == 8 else "minisblack", samples=3 if bits == 8 else 1,
                           bits=bits)
        for reduce in (1, 2):
            with pytest.raises(CorruptSlide, match="claims 60000x60000"):
                decode(tile, reduce)
        assert decode(replace(tile, data=jpeg)).shape == (64, 64, 3)


def test_other_codecs_claiming_more_pixels_than_their_tile_fail_cleanly():
    """JPEG 2000, JPEG-LS and WebP headers claiming a huge image: their codecs check the
    stream against the claim before allocating, so these are 422s with no bound of ours."""
    image = np.full((64, 64, 3), 90, np.uint8)
    image[::3] = 20
    streams = {"jpeg2000": imagecodecs.jpeg2k_encode(image, codecformat="j2k"),
               "jpegls": imagecodecs.jpegls_encode(image),
               "webp": imagecodecs.webp_encode(image, lossless=True)}
    j2k = bytearray(streams["jpeg2000"])
    j2k[8:16] = (60000).to_bytes(4, "big") * 2  # SIZ: Xsiz, Ysiz
    jpegls = bytearray(streams["jpegls"])
    sof = jpegls.find(b"\xff\xf7")
    jpegls[sof + 5:sof + 9] = (60000).to_bytes(2, "big") * 2  # SOF55: height, width
    webp = bytearray(streams["webp"])
    assert webp[12:16] == b"VP8L"
    fields = int.from_bytes(webp[21:25], "little")  # 14 bits width - 1, 14 bits height - 1
    webp[21:25] = (fields & ~(2 ** 28 - 1) | (2 ** 28 - 1)).to_bytes(4, "little")
    for compression, data in (("jpeg2000", j2k), ("jpegls", jpegls), ("webp", webp)):
        tile = EncodedTile(bytes(data), compression, 64, 64, 64, 64, "rgb")
        with pytest.raises(CorruptSlide):
            decode(tile)
        assert np.array_equal(decode(replace(tile, data=streams[compression])), image)


def test_unsupported_encodings_are_415():
    base = EncodedTile(b"x", "deflate", 8, 8, 8, 8, "rgb")
    for tile in (replace(base, compression="lerc"), replace(base, predictor=3),
                 replace(base, bits=1), replace(base, bits=12)):
        with pytest.raises(UnsupportedFormat) as info:
            decode(tile)
        assert info.value.status == 415
