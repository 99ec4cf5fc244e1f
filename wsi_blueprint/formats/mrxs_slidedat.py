"""Slidedat.ini of a 3DHistech MRXS slide: the levels, data files and non-hierarchical records.

The key file names the slide zoom levels (`HIER_0`, each with a section giving its image
size, overlap, resolution, image format and fill colour), the data files, the index file,
and the non-hierarchical records by name and value: the camera positions
(VIMSLIDE_POSITION_BUFFER, or the compressed StitchingIntensityLayer of MRXS 2.2 and later)
and the associated images of the "Scan data layer". A record's number in Index.dat is its
place in the order the names and values are listed. Keys are read as OpenSlide's MIRAX
reader reads them; a missing key is a CorruptSlide naming it.
"""

import configparser
import dataclasses
import math

from ..errors import CorruptSlide, UnsupportedFormat

# Far more than any scanner makes: bounds the work a garbled key file can ask for.
MAX_IMAGES_PER_SIDE = 1 << 20
MAX_CONCAT_EXPONENT = 30
# 'BMP24' is MRXS's name for 24-bit BMP.
IMAGE_FORMATS = {"JPEG": "jpeg", "PNG": "png", "BMP24": "bmp"}
ZOOM_LEVELS = "Slide zoom level"
POSITIONS = "VIMSLIDE_POSITION_BUFFER"
STITCHED_POSITIONS = "StitchingIntensityLayer"
SCAN_DATA = "Scan data layer"
# Associated image: (value in the scan data layer, key naming its format in its section).
ASSOCIATED = {"macro": ("ScanDataLayer_SlideThumbnail", "THUMBNAIL_IMAGE_TYPE"),
              "label": ("ScanDataLayer_SlideBarcode", "BARCODE_IMAGE_TYPE"),
              "thumbnail": ("ScanDataLayer_SlidePreview", "PREVIEW_IMAGE_TYPE")}


@dataclasses.dataclass(frozen=True)
class ZoomLevel:
    """One slide zoom level's section."""

    concat_exponent: int              # IMAGE_CONCAT_FACTOR: log2 of the images concatenated a side
    overlap: tuple[float, float]      # between camera photos, in this level's pixels
    mpp: tuple[float, float]
    fill_rgb: tuple[int, int, int]
    image_format: str                 # 'jpeg', 'png' or 'bmp'
    image_size: tuple[int, int]       # of every stored image (DIGITIZER_WIDTH, _HEIGHT)


@dataclasses.dataclass(frozen=True)
class Slidedat:
    slide_id: str
    images: tuple[int, int]           # IMAGENUMBER_X, _Y: level-0 images across and down
    divisions: int                    # CameraImageDivisionsPerSide: images per photo side
    objective_power: int | None
    index_file: str
    data_files: tuple[str, ...]
    levels: tuple[ZoomLevel, ...]
    position_record: int | None       # record number of the camera positions, if any
    positions_compressed: bool        # StitchingIntensityLayer (zlib) rather than raw
    associated: dict[str, int]        # name -> record number
    properties: dict[str, str]        # 'mirax.GROUP.KEY', as OpenSlide names them
    phi_properties: tuple[str, ...]   # those of a barcode (SlideIndex.phi_properties)


def _parse_ini(text: str) -> configparser.ConfigParser:
    # Scanners write lines of a value without a key; OpenSlide ignores them, and so do we.
    # Lines are stripped: an indented line is no continuation of a value in a key file.
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if not line.startswith("=")]
    ini = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",),
                                    comment_prefixes=("#", ";"), empty_lines_in_values=False)
    ini.optionxform = str  # keys are case-sensitive
    try:
        ini.read_string("\n".join(lines))
    except configparser.Error as exc:
        raise CorruptSlide(f"Slidedat.ini does not parse: {str(exc).splitlines()[0]}") from None
    return ini


class _Keys:
    """Typed reads of the key file; a missing or malformed key is a CorruptSlide."""

    def __init__(self, ini: configparser.ConfigParser):
        self.ini = ini

    def text(self, group: str, key: str) -> str:
        if not self.ini.has_section(group):
            raise CorruptSlide(f"Slidedat.ini has no [{group}] group")
        value = self.ini.get(group, key, fallback=None)
        if value is None:
            raise CorruptSlide(f"Slidedat.ini has no {key} in [{group}]")
        return value.strip()

    def number(self, group: str, key: str, kind=int, least: float | None = None):
        text = self.text(group, key)
        try:
            value = kind(text)
        except ValueError:
            raise CorruptSlide(f"Slidedat.ini: {key} in [{group}] is not a number: "
                               f"{text[:40]!r}") from None
        if least is not None and value < least:
            raise CorruptSlide(f"Slidedat.ini: {key} in [{group}] is {value}, "
                               f"less than {least}")
        return value


def _nonhier_records(keys: _Keys) -> dict[tuple[str, str], tuple[int, str | None]]:
    """(name, value) -> (record number, section) of every non-hierarchical record."""
    group = "HIERARCHICAL"
    records, number = {}, 0
    for i in range(keys.number(group, "NONHIER_COUNT", least=0)):
        name = keys.text(group, f"NONHIER_{i}_NAME")
        for j in range(keys.number(group, f"NONHIER_{i}_COUNT", least=1)):
            value = keys.text(group, f"NONHIER_{i}_VAL_{j}")
            section = keys.ini.get(group, f"NONHIER_{i}_VAL_{j}_SECTION", fallback=None)
            records.setdefault((name, value), (number, section and section.strip()))
            records.setdefault((name, None), (number, None))  # a name's first record
            number += 1
    return records


def _zoom_level(keys: _Keys, section: str, first: bool) -> ZoomLevel:
    def number(key, kind=int, least=None):
        return keys.number(section, key, kind, least)

    bgr = number("IMAGE_FILL_COLOR_BGR")
    overlap = (number("OVERLAP_X", float), number("OVERLAP_Y", float))
    if not all(math.isfinite(value) for value in overlap):
        raise CorruptSlide(f"Slidedat.ini: the overlap of [{section}] is {overlap}")
    image_format = keys.text(section, "IMAGE_FORMAT")
    if image_format not in IMAGE_FORMATS:
        raise UnsupportedFormat(f"MRXS images stored as {image_format!r} are not supported")
    return ZoomLevel(
        concat_exponent=number("IMAGE_CONCAT_FACTOR", least=0 if first else 1),
        overlap=overlap,
        mpp=(number("MICROMETER_PER_PIXEL_X", float), number("MICROMETER_PER_PIXEL_Y", float)),
        fill_rgb=(bgr & 0xFF, bgr >> 8 & 0xFF, bgr >> 16 & 0xFF),
        image_format=IMAGE_FORMATS[image_format],
        image_size=(number("DIGITIZER_WIDTH", least=1), number("DIGITIZER_HEIGHT", least=1)))


def _identifies(key: str) -> bool:
    """Whether a key may hold the slide's barcode: like the label, it identifies the patient
    (its image's format key says nothing)."""
    return "BARCODE" in key.upper() and not key.endswith("_IMAGE_TYPE")


def _objective_power(keys: _Keys) -> int | None:
    text = keys.ini.get("GENERAL", "OBJECTIVE_MAGNIFICATION", fallback="").strip()
    try:
        power = int(text.removesuffix("x"))  # some old files write '20x'
    except ValueError:
        return None
    return power if power > 0 else None


def parse(text: str) -> Slidedat:
    keys = _Keys(_parse_ini(text.removeprefix("\ufeff")))
    general, hier = "GENERAL", "HIERARCHICAL"
    names = [keys.text(hier, f"HIER_{i}_NAME")
             for i in range(keys.number(hier, "HIER_COUNT", least=1))]
    if names[0] != ZOOM_LEVELS:
        raise UnsupportedFormat(f"MRXS hierarchy starts with {names[0][:40]!r}, "
                                f"not {ZOOM_LEVELS!r}")
    levels = tuple(_zoom_level(keys, keys.text(hier, f"HIER_0_VAL_{i}_SECTION"), i == 0)
                   for i in range(keys.number(hier, "HIER_0_COUNT", least=1)))
    exponent = sum(level.concat_exponent for level in levels)
    if exponent > MAX_CONCAT_EXPONENT:  # as OpenSlide: image_concat must fit an int
        raise CorruptSlide(f"MRXS levels concatenate 2^{exponent} images a side")
    data_files = tuple(keys.text("DATAFILE", f"FILE_{i}")
                       for i in range(keys.number("DATAFILE", "FILE_COUNT", least=1)))
    records = _nonhier_records(keys)
    position, compressed = records.get((POSITIONS, None)), False
    if position is None:
        position, compressed = records.get((STITCHED_POSITIONS, None)), True
    associated = {}
    for name, (value, format_key) in ASSOCIATED.items():
        found = records.get((SCAN_DATA, value))
        if found is None:
            continue
        number, section = found
        if section is None:
            raise CorruptSlide(f"Slidedat.ini names no section for the {value} record")
        if keys.text(section, format_key) != "JPEG":
            raise UnsupportedFormat(f"the MRXS {name} is not stored as JPEG")
        associated[name] = number
    properties = {f"mirax.{group}.{key}": value.strip()
                  for group in keys.ini.sections() for key, value in keys.ini[group].items()}
    divisions = keys.ini.get(general, "CameraImageDivisionsPerSide", fallback=None)
    images = (keys.number(general, "IMAGENUMBER_X", least=1),
              keys.number(general, "IMAGENUMBER_Y", least=1))
    if max(images) > MAX_IMAGES_PER_SIDE:
        raise CorruptSlide(f"MRXS slide of {images[0]} x {images[1]} images (at most "
                           f"{MAX_IMAGES_PER_SIDE} a side expected)")
    return Slidedat(
        slide_id=keys.text(general, "SLIDE_ID"),
        images=images,
        divisions=keys.number(general, "CameraImageDivisionsPerSide", least=1)
        if divisions is not None else 1,
        objective_power=_objective_power(keys),
        index_file=keys.text(hier, "INDEXFILE"),
        data_files=data_files,
        levels=levels,
        position_record=position[0] if position else None,
        positions_compressed=compressed and position is not None,
        associated=associated,
        properties=properties,
        phi_properties=tuple(name for name in properties
                             if _identifies(name.rsplit(".", 1)[-1])))
