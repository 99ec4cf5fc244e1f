"""Synthetic 3DHistech MRXS slides, laid out as OpenSlide's MIRAX reader expects them.

A slide is `X.mrxs` plus the folder `X/`: Slidedat.ini (the key file naming levels, data files
and non-hierarchical records), Index.dat (per level, linked pages of image records; per
non-hierarchical record one page) and the data files holding the camera images.

The camera takes overlapping photos at measured positions; each photo is cut into
`DIVISIONS` x `DIVISIONS` images, which are the level-0 images. Each coarser level halves the
one before and concatenates 2 x 2 of its images into one, so from the level where an image
spans several photos, OpenSlide cuts it into sub-tiles, each placed at its own photo's
position. Every photo here is tinted differently, so that wherever photos overlap the pixels
show which one was painted last.

Pixels come from CMU-1-Small-Region.svs, read with OpenSlide.
"""

import dataclasses
import io
import os
import struct
import uuid
import zlib

import numpy
import openslide
import PIL.Image

from helpers import make_settings, testdata_path
from wsi_blueprint.caches import Caches
from wsi_blueprint.counters import Counters
from wsi_blueprint.formats import Slide, SlideIndex
from wsi_blueprint.library import SlideLibrary
from wsi_blueprint.storage import open_store

IMAGE = 128            # DIGITIZER_WIDTH/HEIGHT: the side of every stored image, all levels
DIVISIONS = 2          # CameraImageDivisionsPerSide: a photo is 2 x 2 images
PHOTOS = (4, 3)        # photos across and down
OVERLAP = 24           # nominal overlap of neighbouring photos, level-0 pixels
CONCAT_EXPONENTS = (0, 1, 1, 1)   # IMAGE_CONCAT_FACTOR per level: concat 1, 2, 4, 8
FILL_RGB = (236, 228, 246)
MPP = 0.2434
INDEX_VERSION = b"01.02"
_SOURCE_ORIGIN = (800, 1500)   # where the source slide has tissue
# Photo positions off their nominal place (multiples of 8, so every level's position is whole).
_JITTER = [(0, 0), (8, -8), (-8, 8), (16, 0),
           (0, 8), (-8, 0), (8, 8), (0, -16),
           (8, 0), (0, 16), (-16, -8), (8, 0)]


@dataclasses.dataclass
class MrxsSlide:
    path: str                 # the X.mrxs file
    folder: str               # X/
    positions: list[tuple[int, int]]  # per photo, level-0 pixels, row-major
    sizes: list[tuple[int, int]]      # level sizes as OpenSlide computes them


def _source(width: int, height: int) -> numpy.ndarray:
    with openslide.OpenSlide(testdata_path("CMU-1-Small-Region.svs")) as slide:
        region = slide.read_region(_SOURCE_ORIGIN, 0, (width, height))
        return numpy.asarray(region.convert("RGB"))


def _jpeg(pixels: numpy.ndarray, quality: int = 80) -> bytes:
    out = io.BytesIO()
    PIL.Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


def _encoded(pixels: numpy.ndarray, image_format: str) -> bytes:
    """A stored image in a level's IMAGE_FORMAT: JPEG, PNG or BMP24."""
    if image_format == "JPEG":
        return _jpeg(pixels)
    out = io.BytesIO()
    PIL.Image.fromarray(pixels).save(out, {"PNG": "PNG", "BMP24": "BMP"}[image_format])
    return out.getvalue()


def _reduced(pixels: numpy.ndarray, factor: int) -> numpy.ndarray:
    if factor == 1:
        return pixels
    return numpy.asarray(PIL.Image.fromarray(pixels).reduce(factor))


class _DataFiles:
    """Data*.dat contents being written: a small header, then the stored images."""

    def __init__(self, count: int):
        self.files = [bytearray(b"synthetic MIRAX data file %d\0" % i) for i in range(count)]

    def add(self, fileno: int, data: bytes) -> tuple[int, int, int]:
        offset = len(self.files[fileno])
        self.files[fileno] += data
        return offset, len(data), fileno


def _tint(photo: int) -> int:
    return (photo % 3 - 1) * 24


def _source_for(positions: list[tuple[int, int]]) -> numpy.ndarray:
    side = IMAGE * DIVISIONS
    return _source(max(x for x, _ in positions) + side, max(y for _, y in positions) + side)


def photo(slide: "MrxsSlide", number: int) -> numpy.ndarray:
    """The pixels of one camera photo of a written slide, as the writer stored them."""
    return _photo_pixels(_source_for(slide.positions), slide.positions[number], _tint(number))


def _photo_pixels(source: numpy.ndarray, position: tuple[int, int], tint: int) -> numpy.ndarray:
    side = IMAGE * DIVISIONS
    x, y = position
    photo = source[y:y + side, x:x + side].astype(numpy.int16) + tint
    return numpy.clip(photo, 0, 255).astype(numpy.uint8)


def _level_images(photos: list[numpy.ndarray], concat: int):
    """(image index, pixels) of every stored image of the level whose concat is `concat`, as
    the scanner makes them: 2^k x 2^k level-0 images reduced and put side by side, which from
    the level where an image spans several photos means one piece per photo."""
    across, down = PHOTOS[0] * DIVISIONS, PHOTOS[1] * DIVISIONS
    per_image = max(1, concat // DIVISIONS)        # photos per image, along one side
    piece = IMAGE // per_image                      # each photo's side in the image
    for y in range(0, down, concat):
        for x in range(0, across, concat):
            image = numpy.full((IMAGE, IMAGE, 3), 0, numpy.uint8)
            for yi in range(per_image):
                for xi in range(per_image):
                    xx, yy = x + xi * DIVISIONS, y + yi * DIVISIONS
                    if xx >= across or yy >= down:
                        continue
                    photo = photos[(yy // DIVISIONS) * PHOTOS[0] + xx // DIVISIONS]
                    if concat < DIVISIONS:  # a part of one photo
                        part = IMAGE * concat
                        sx, sy = (xx % DIVISIONS) * IMAGE, (yy % DIVISIONS) * IMAGE
                        image[:] = _reduced(photo[sy:sy + part, sx:sx + part], concat)
                    else:
                        image[yi * piece:(yi + 1) * piece, xi * piece:(xi + 1) * piece] = \
                            _reduced(photo, concat)
            yield y * across + x, image


def _ini(slide_id: str, zoom_levels: int, position_record: str, overlap: int,
         formats: tuple[str, ...]) -> str:
    nonhier = ["NONHIER_0_NAME = Scan data layer", "NONHIER_0_COUNT = 3",
               "NONHIER_0_VAL_0 = ScanDataLayer_SlideThumbnail",
               "NONHIER_0_VAL_0_SECTION = NONHIERLAYER_0_VAL_0_SECTION",
               "NONHIER_0_VAL_1 = ScanDataLayer_SlideBarcode",
               "NONHIER_0_VAL_1_SECTION = NONHIERLAYER_0_VAL_1_SECTION",
               "NONHIER_0_VAL_2 = ScanDataLayer_SlidePreview",
               "NONHIER_0_VAL_2_SECTION = NONHIERLAYER_0_VAL_2_SECTION",
               f"NONHIER_1_NAME = {position_record}", "NONHIER_1_COUNT = 1",
               "NONHIER_1_VAL_0 = default",
               "NONHIER_1_VAL_0_SECTION = NONHIERLAYER_1_VAL_0_SECTION"]
    lines = ["[GENERAL]", "SLIDE_VERSION = 01.02", f"SLIDE_ID = {slide_id}",
             "SLIDE_NAME = synthetic", f"IMAGENUMBER_X = {PHOTOS[0] * DIVISIONS}",
             f"IMAGENUMBER_Y = {PHOTOS[1] * DIVISIONS}", "OBJECTIVE_MAGNIFICATION = 20",
             f"CameraImageDivisionsPerSide = {DIVISIONS}", "",
             "[HIERARCHICAL]", "HIER_COUNT = 1", "NONHIER_COUNT = 2", "INDEXFILE = Index.dat",
             "HIER_0_NAME = Slide zoom level", f"HIER_0_COUNT = {zoom_levels}"]
    for i in range(zoom_levels):
        lines += [f"HIER_0_VAL_{i} = ZoomLevel_{i}",
                  f"HIER_0_VAL_{i}_SECTION = LAYER_0_LEVEL_{i}_SECTION"]
    lines += nonhier + ["", "[DATAFILE]", "FILE_COUNT = 2", "FILE_0 = Data0000.dat",
                        "FILE_1 = Data0001.dat", ""]
    bgr = FILL_RGB[2] << 16 | FILL_RGB[1] << 8 | FILL_RGB[0]
    for i, exponent in enumerate(CONCAT_EXPONENTS[:zoom_levels]):
        concat = 2 ** sum(CONCAT_EXPONENTS[:i + 1])
        lines += [f"[LAYER_0_LEVEL_{i}_SECTION]", f"IMAGE_CONCAT_FACTOR = {exponent}",
                  f"OVERLAP_X = {overlap if i == 0 else 0}",
                  f"OVERLAP_Y = {overlap if i == 0 else 0}",
                  f"MICROMETER_PER_PIXEL_X = {MPP * concat!r}",
                  f"MICROMETER_PER_PIXEL_Y = {MPP * concat!r}",
                  f"IMAGE_FILL_COLOR_BGR = {bgr}", f"DIGITIZER_WIDTH = {IMAGE}",
                  f"DIGITIZER_HEIGHT = {IMAGE}", f"IMAGE_FORMAT = {formats[i]}", ""]
    for i, key in enumerate(("THUMBNAIL_IMAGE_TYPE", "BARCODE_IMAGE_TYPE", "PREVIEW_IMAGE_TYPE")):
        lines += [f"[NONHIERLAYER_0_VAL_{i}_SECTION]", f"{key} = JPEG"]
        if key == "BARCODE_IMAGE_TYPE":
            lines.append("BARCODE_VALUE = CASE-42-A1")  # what the label's barcode reads
        lines.append("")
    lines += ["[NONHIERLAYER_1_VAL_0_SECTION]", "POSITION_FORMAT = int32", ""]
    return "\r\n".join(lines)


def _index(slide_id: str, levels: list[list[tuple[int, int, int, int]]],
           nonhier: list[tuple[int, int, int]], page_size: int) -> bytes:
    """Index.dat: version and slide id, the roots of the hierarchical and non-hierarchical
    tables, then per level a list head and its pages of (image index, offset, length, file)."""
    head = INDEX_VERSION + slide_id.encode("ascii")
    out = bytearray(head + b"\0" * 8)
    u32 = struct.Struct("<i")

    def put(at: int, value: int) -> None:
        out[at:at + 4] = u32.pack(value)

    hier_table = len(out)
    out += b"\0" * 4 * len(levels)
    nonhier_table = len(out)
    out += b"\0" * 4 * len(nonhier)
    put(len(head), hier_table)
    put(len(head) + 4, nonhier_table)
    for i, records in enumerate(levels):
        list_head = len(out)
        put(hier_table + 4 * i, list_head)
        out += u32.pack(0) + u32.pack(list_head + 8)
        pages = [records[j:j + page_size] for j in range(0, len(records), page_size)]
        for p, page in enumerate(pages):
            end = len(out) + 8 + 16 * len(page)
            out += u32.pack(len(page)) + u32.pack(end if p + 1 < len(pages) else 0)
            out += b"".join(struct.pack("<4i", *record) for record in page)
    for i, (offset, length, fileno) in enumerate(nonhier):
        list_head = len(out)
        put(nonhier_table + 4 * i, list_head)
        out += u32.pack(0) + u32.pack(list_head + 8)
        out += struct.pack("<7i", 1, 0, 0, 0, offset, length, fileno)
    return bytes(out)


def write_mrxs(folder: str, name: str = "synthetic", *, stitching: bool = False,
               zoom_levels: int = 4, page_size: int = 30,
               formats: tuple[str, ...] = ("JPEG",) * 4, untaken: tuple[int, ...] = ()
               ) -> MrxsSlide:
    """Writes `name`.mrxs and `name`/ into `folder`. `stitching`: positions in a
    DEFLATE-compressed StitchingIntensityLayer (MRXS 2.2 and later) instead of a
    VIMSLIDE_POSITION_BUFFER; `formats`: each level's IMAGE_FORMAT (JPEG, PNG, BMP24);
    `untaken`: photos recorded at 0, 0 as scanners record photos they never took (their images
    are stored all the same)."""
    side = IMAGE * DIVISIONS
    step = side - OVERLAP
    positions = [(max(0, c * step + dx), max(0, r * step + dy))
                 for (r, c), (dx, dy) in zip(((r, c) for r in range(PHOTOS[1])
                                              for c in range(PHOTOS[0])), _JITTER)]
    source = _source_for(positions)
    photos = [_photo_pixels(source, p, _tint(i)) for i, p in enumerate(positions)]
    data = _DataFiles(2)
    levels = []
    for i in range(zoom_levels):
        concat = 2 ** sum(CONCAT_EXPONENTS[:i + 1])
        fileno = 0 if i < 2 else 1
        levels.append([(index, *data.add(fileno, _encoded(pixels, formats[i])))
                       for index, pixels in _level_images(photos, concat)])
    macro = _reduced(source, 4)
    label = numpy.ascontiguousarray(source[:160, :320][:, ::-1])
    preview = _reduced(source, 8)
    recorded = [(0, 0) if i in untaken else p for i, p in enumerate(positions)]
    position_buffer = b"".join(struct.pack("<Bii", 1, x, y) for x, y in recorded)
    if stitching:
        position_buffer = zlib.compress(position_buffer)
    nonhier = [data.add(1, _jpeg(macro)), data.add(1, _jpeg(label)), data.add(0, _jpeg(preview)),
               data.add(1, position_buffer)]
    slide_id = uuid.uuid5(uuid.NAMESPACE_URL, f"wsi-blueprint/{name}").hex
    companion = os.path.join(folder, name)
    os.makedirs(companion, exist_ok=True)
    record = "StitchingIntensityLayer" if stitching else "VIMSLIDE_POSITION_BUFFER"
    with open(os.path.join(companion, "Slidedat.ini"), "w", encoding="utf-8-sig",
              newline="") as f:
        f.write(_ini(slide_id, zoom_levels, record, OVERLAP, formats))
    with open(os.path.join(companion, "Index.dat"), "wb") as f:
        f.write(_index(slide_id, levels, nonhier, page_size))
    for i, contents in enumerate(data.files):
        with open(os.path.join(companion, f"Data{i:04d}.dat"), "wb") as f:
            f.write(contents)
    path = os.path.join(folder, f"{name}.mrxs")
    with open(path, "wb") as f:
        f.write(b"synthetic MIRAX slide\0")
    across, down = PHOTOS[0] * DIVISIONS, PHOTOS[1] * DIVISIONS
    base = (across * IMAGE - (PHOTOS[0] - 1) * OVERLAP, down * IMAGE - (PHOTOS[1] - 1) * OVERLAP)
    sizes = [(base[0] // 2 ** sum(CONCAT_EXPONENTS[:i + 1]),
              base[1] // 2 ** sum(CONCAT_EXPONENTS[:i + 1])) for i in range(zoom_levels)]
    return MrxsSlide(path, companion, positions, sizes)


def open_through_library(store_url: str, slide_id: str, counters: Counters | None = None,
                         **settings) -> Slide:
    """Opens a slide as the app does (a multi-object slide needs the catalog and a joined
    reader); `settings` as for make_settings."""
    counters = counters or Counters()
    settings = make_settings(store=store_url, **settings)
    caches = Caches.from_settings(settings, counters, metadata_codec=SlideIndex)
    library = SlideLibrary(open_store(settings, counters), caches, counters,
                           block_size=settings.block_size)
    return library.open(slide_id)


def upload(s3_server, bucket: str, folder: str, prefix: str) -> None:
    """Every file under `folder` put into the bucket under `prefix`, at the same relative key."""
    for root, _, files in os.walk(folder):
        for file in files:
            path = os.path.join(root, file)
            with open(path, "rb") as f:
                s3_server.put(bucket, prefix + os.path.relpath(path, folder), f.read())


def copy_slide(source: MrxsSlide, folder: str, name: str) -> str:
    """A copy of a written slide as `name`.mrxs in `folder` (to be spoilt); the copy's folder."""
    import shutil
    shutil.copy(source.path, os.path.join(folder, f"{name}.mrxs"))
    shutil.copytree(source.folder, os.path.join(folder, name))
    return os.path.join(folder, name)
