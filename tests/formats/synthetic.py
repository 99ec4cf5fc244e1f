"""Synthetic multi-level slides for the layouts the real test set lacks, written with tifffile.

Pixels come from CMU-1-Small-Region.svs. JPEG tiles are encoded here and split into shared
JPEGTables plus abbreviated streams, the way Aperio and libvips store them (tifffile itself
writes complete streams). NDPI, which tifffile cannot write, is laid out by hand around a
restart-marked JPEG stream. The TIFF builders return the pixels they stored, for the tests to
compare decoded tiles with.
"""

import io
import struct
from typing import Iterator

import imagecodecs
import numpy
import PIL.Image
import tifffile

from tile_decoder import rgb_to_ycbcr
from wsi_blueprint.bench.slidegen import aperio_component_ids, marker_segments

JPEG_QUALITY = 90
_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
_DQT, _DHT = 0xDB, 0xC4


def source_pixels(path: str) -> numpy.ndarray:
    """Level 0 of a real slide as RGB, height x width x 3."""
    return tifffile.imread(path, key=0)


def pyramid(source: numpy.ndarray, factors: tuple[int, ...]) -> list[numpy.ndarray]:
    """Reduced copies by plain subsampling: what is stored is what the tests expect back."""
    return [numpy.ascontiguousarray(source[::f, ::f]) for f in factors]


def tiles_of(image: numpy.ndarray, tile: int) -> Iterator[numpy.ndarray]:
    """Row-major tiles, edge tiles padded to full size as TIFF stores them."""
    height, width = image.shape[:2]
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            piece = numpy.zeros((tile, tile) + image.shape[2:], image.dtype)
            part = image[y:y + tile, x:x + tile]
            piece[:part.shape[0], :part.shape[1]] = part
            yield piece


def encode_jpeg(tile: numpy.ndarray, photometric: str) -> bytes:
    """A complete JPEG stream: RGB stored as is, or YCbCr 4:2:0; fixed Huffman tables, so all
    tiles share their tables."""
    if photometric == "rgb":
        return imagecodecs.jpeg8_encode(tile, level=JPEG_QUALITY, colorspace="RGB",
                                        outcolorspace="RGB", optimize=False)
    return imagecodecs.jpeg8_encode(tile, level=JPEG_QUALITY, colorspace="RGB",
                                    outcolorspace="YCbCr", subsampling="420", optimize=False)


def split_tables(streams: list[bytes], aperio_ids: bool) -> tuple[bytes, list[bytes]]:
    """(JPEGTables, abbreviated streams): quantisation and Huffman tables move to the shared
    tables; APPn markers go (no JFIF, no Adobe marker, as in TIFF JPEG)."""
    tables, abbreviated = None, []
    for stream in streams:
        segments, scan = marker_segments(stream)
        shared = b"".join(s for m, s in segments if m in (_DQT, _DHT))
        kept = [(m, s) for m, s in segments if m not in (_DQT, _DHT) and not 0xE0 <= m <= 0xEF]
        if aperio_ids:
            kept = [(m, aperio_component_ids(s, m)) for m, s in kept]
        if tables is None:
            tables = _SOI + shared + _EOI
        assert tables == _SOI + shared + _EOI, "tiles must share their tables"
        abbreviated.append(_SOI + b"".join(s for _, s in kept) + scan)
    return tables, abbreviated


def _aperio_description(width: int, height: int, level: tuple[int, int] | None,
                        codec: str) -> str:
    reduced = f" -> {level[0]}x{level[1]}" if level else ""
    text = (f"Aperio Image Library v12.0.15 \r\n{width}x{height} [0,0 {width}x{height}] "
            f"(240x240){reduced} {codec} Q={JPEG_QUALITY}")
    if level is None:
        text += "|AppMag = 20|MPP = 0.4990|ScanScope ID = SYNTHETIC|Date = 01/02/24"
    return text


def _write_j2k_level(tif: tifffile.TiffWriter, level: numpy.ndarray, compression: int,
                     description: str) -> None:
    """Aperio JPEG 2000: 33005 codes RGB with the usual transform; 33003 codes YCbCr
    components as they are (no transform), which the reader converts."""
    tiles = []
    for tile in tiles_of(level, 240):
        if compression == 33003:
            tiles.append(imagecodecs.jpeg2k_encode(rgb_to_ycbcr(tile), level=50,
                                                   codecformat="J2K", mct=False))
        else:
            tiles.append(imagecodecs.jpeg2k_encode(tile, level=50, codecformat="J2K"))
    tif.write(iter(tiles), shape=level.shape, dtype=numpy.uint8, tile=(240, 240),
              compression=compression, photometric="rgb", description=description,
              metadata=None)


def write_aperio(path: str, source: numpy.ndarray, codec: str = "jpeg-rgb",
                 factors: tuple[int, ...] = (1, 4, 16)) -> dict:
    """An Aperio-layout SVS: levels at `factors`, thumbnail second, then label and macro.

    codec: 'jpeg-rgb' (Aperio's RGB JPEG with component ids 0,1,2), 'jpeg-ycbcr',
    'j2k-33003' or 'j2k-33005'. Returns the stored pixels: {'levels': [...], name: image}.
    """
    levels = pyramid(source, factors)
    height, width = source.shape[:2]
    thumbnail = numpy.ascontiguousarray(source[::8, ::8])
    label = numpy.ascontiguousarray(source[:300, :400])
    macro = numpy.ascontiguousarray(source[::6, ::3][:300])
    with tifffile.TiffWriter(path) as tif:
        for i, level in enumerate(levels):
            size = (level.shape[1], level.shape[0]) if i else None
            if codec.startswith("jpeg"):
                photometric = codec.removeprefix("jpeg-")
                streams = [encode_jpeg(tile, photometric) for tile in tiles_of(level, 240)]
                tables, tiles = split_tables(streams, aperio_ids=photometric == "rgb")
                tif.write(iter(tiles), shape=level.shape, dtype=numpy.uint8, tile=(240, 240),
                          compression=7, photometric="rgb", jpegtables=tables,
                          # tifffile's way to say the stored colour space
                          compressionargs={"outcolorspace": photometric},
                          subsampling=(2, 2) if photometric == "ycbcr" else (1, 1),
                          description=_aperio_description(width, height, size, "JPEG/RGB"),
                          metadata=None)
            else:
                _write_j2k_level(tif, level, int(codec.removeprefix("j2k-")),
                                 _aperio_description(width, height, size, "J2K/KDU"))
            if i == 0:
                tif.write(thumbnail, rowsperstrip=16, compression="jpeg", photometric="rgb",
                          description=f"Aperio Image Library v12.0.15 \n{width}x{height} -> "
                                      f"{thumbnail.shape[1]}x{thumbnail.shape[0]} - ",
                          metadata=None)
        tif.write(label, rowsperstrip=7, compression="lzw", predictor=True, subfiletype=1,
                  description="Aperio Image Library v12.0.15 \nlabel 400x300", metadata=None)
        tif.write(macro, rowsperstrip=16, compression="jpeg", subfiletype=9,
                  description="Aperio Image Library v12.0.15 \nmacro", metadata=None)
    return {"levels": levels, "thumbnail": thumbnail, "label": label, "macro": macro}


def write_pyramid(path: str, source: numpy.ndarray, compression: str,
                  factors: tuple[int, ...], tile: int = 256, subifds: bool = False,
                  bigtiff: bool = False, ome: bool = False,
                  sparse: tuple[int, int] | None = None) -> list:
    """A generic tiled pyramid: reduced levels in SubIFDs (libvips --subifd, and with `ome`
    an OME-TIFF) or in the main chain with NewSubfileType 1 (the older layout).

    compression: 'jpeg' (YCbCr with shared JPEGTables, as libvips writes), or a codec
    tifffile encodes itself: 'zlib', 'lzw', 'zstd', 'webp', 'none'. `sparse`: the (column,
    row) of a tile of level 0 written with no data. Returns the stored levels.
    """
    levels = pyramid(source, factors)
    with tifffile.TiffWriter(path, bigtiff=bigtiff, ome=ome) as tif:
        for i, level in enumerate(levels):
            options = dict(shape=level.shape, dtype=numpy.uint8, tile=(tile, tile),
                           metadata={"axes": "YXS"} if ome and i == 0 else None,
                           subfiletype=1 if i else 0,
                           subifds=len(levels) - 1 if subifds and i == 0 else None)
            if compression == "jpeg":
                streams = [encode_jpeg(t, "ycbcr") for t in tiles_of(level, tile)]
                tables, tiles = split_tables(streams, aperio_ids=False)
                data = iter(tiles)
                options.update(compression=7, photometric="rgb", jpegtables=tables,
                               compressionargs={"outcolorspace": "ycbcr"}, subsampling=(2, 2))
            else:
                data = tiles_of(level, tile)
                if i == 0 and sparse is not None:
                    columns = -(-level.shape[1] // tile)
                    skip = sparse[1] * columns + sparse[0]
                    data = (None if n == skip else t for n, t in enumerate(data))
                options.update(photometric="rgb",
                               compression=None if compression == "none" else compression,
                               predictor=compression in ("zlib", "lzw"))
            tif.write(data, **options)
    return levels


def restart_jpeg(pixels: numpy.ndarray, subsampling: str, interval_mcus: int) -> bytes:
    """One JPEG stream with a restart marker every `interval_mcus` MCUs, as NDPI levels are.
    Pillow writes it (imagecodecs cannot set a restart interval)."""
    out = io.BytesIO()
    PIL.Image.fromarray(pixels).save(out, "JPEG", quality=90,
                                 subsampling={"444": 0, "420": 2}[subsampling],
                                 restart_marker_blocks=interval_mcus)
    return out.getvalue()


def mcu_starts(stream: bytes) -> list[int]:
    """Offset of each restart interval in the stream: after SOS, then after every RSTn."""
    segments, scan = marker_segments(stream)
    first = len(stream) - len(scan)
    return [first] + [first + i + 2 for i in range(len(scan) - 1)
                      if scan[i] == 0xFF and 0xD0 <= scan[i + 1] <= 0xD7]


def write_ndpi(path: str, stream: bytes, width: int, height: int,
               magnification: float = 20.0, starts_high: bool = False) -> None:
    """A minimal one-level NDPI, written by hand: tifffile cannot write NDPI's layout
    (8-byte offset in the header, 8-byte next-IFD offset, a 4-byte high word per entry
    after the entry table). `starts_high` adds McuStartsHighBytes (zeros: a small file)."""
    starts = mcu_starts(stream)
    make = b"Hamamatsu\x00"
    data = bytearray(b"II*\x00" + b"\x00" * 8)  # first IFD offset patched below
    strip_at = len(data)
    data += stream
    make_at = len(data)
    data += make
    starts_at = len(data)
    data += struct.pack(f"<{len(starts)}I", *starts)
    high_at = len(data)
    data += b"\x00" * 4 * len(starts)
    entries = [  # (tag, type, count, inline value bytes or offset)
        (256, 4, 1, struct.pack("<I", width)), (257, 4, 1, struct.pack("<I", height)),
        (258, 3, 1, struct.pack("<HH", 8, 0)), (259, 3, 1, struct.pack("<HH", 7, 0)),
        (262, 3, 1, struct.pack("<HH", 6, 0)), (271, 2, len(make), struct.pack("<I", make_at)),
        (273, 4, 1, struct.pack("<I", strip_at)), (277, 3, 1, struct.pack("<HH", 3, 0)),
        (278, 4, 1, struct.pack("<I", height)), (279, 4, 1, struct.pack("<I", len(stream))),
        (65420, 3, 1, struct.pack("<HH", 1, 0)), (65421, 11, 1, struct.pack("<f", magnification)),
        (65426, 4, len(starts), struct.pack("<I", starts_at)),
    ] + ([(65432, 4, len(starts), struct.pack("<I", high_at))] if starts_high else [])
    ifd_at = len(data)
    struct.pack_into("<Q", data, 4, ifd_at)
    data += struct.pack("<H", len(entries))
    for tag, type_, count, value in entries:
        data += struct.pack("<HHI", tag, type_, count) + value
    data += struct.pack("<Q", 0) + b"\x00" * 4 * len(entries)  # no next IFD; high words
    with open(path, "wb") as f:
        f.write(bytes(data))
