"""Leica SCN: a BigTIFF whose first description is an `scn` XML collection of images.

Recognised by the XML's default namespace (2010/03/10 or 2010/10/01), as OpenSlide does. The
collection is the whole glass slide, measured in nanometres. The image at 0,0 covering all of
it is the macro; every other brightfield image is a scanned region, each its own pyramid of
TIFF directories (one per `dimension`). The slide is the collection: level N places the N-th
directory of every region at the region's offset on one collection-sized canvas, and the
background between regions is the fill colour. The regions must share objective and level
count, with resolutions within 2 %; a level's resolution is the finest of its regions'.
Fluorescence and z-stacks are refused for now.
"""

import base64
import binascii
import math
import xml.etree.ElementTree as ET

import tifffile

from ..errors import CorruptSlide, UnsupportedFormat
from .index import Image, IntArray, Level, Segments, SlideIndex
from .philips import parse_xml
from . import icc
from .tiff_pages import image_of, resolution_mpp, tiff_properties

NAMESPACES = ("http://www.leica-microsystems.com/scn/2010/03/10",
              "http://www.leica-microsystems.com/scn/2010/10/01")
_BRIGHTFIELD = "brightfield"
_SIMILAR = 0.98  # least ratio of two regions' resolutions at one level (OpenSlide's rule)
_BARCODE = "leica.barcode"


def is_leica(page: tifffile.TiffPage) -> bool:
    description = page.description or ""
    if not page.is_tiled or not any(ns in description for ns in NAMESPACES):
        return False
    try:
        root = parse_xml(description, "Leica SCN")
    except CorruptSlide:
        return False
    return root.tag in {f"{{{ns}}}scn" for ns in NAMESPACES}


def _int(node: ET.Element, name: str) -> int:
    try:
        return int(node.get(name, ""))
    except ValueError:
        raise CorruptSlide(f"a Leica SCN <{node.tag.split('}')[-1]}> without a whole-number "
                           f"{name}") from None


def _text(node: ET.Element, path: str, ns: dict) -> str | None:
    found = node.find(path, ns)
    return found.text.strip() if found is not None and found.text else None


def _barcode(collection: ET.Element, ns: dict) -> str | None:
    """The slide's barcode, stored in base64 (decoded, as OpenSlide shows it). It identifies
    the patient as the label does (phi_properties)."""
    text = _text(collection, "d:barcode", ns)
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except binascii.Error:
        return text


class _Image:
    """One <image> of the collection: where it lies (nm) and its directories, largest first."""

    def __init__(self, node: ET.Element, ns: dict, canvas_nm: tuple[int, int]):
        view = node.find("d:view", ns)
        if view is None:
            raise CorruptSlide("a Leica SCN image without a <view>")
        self.nm_x, self.nm_y = _int(view, "offsetX"), _int(view, "offsetY")
        self.nm_width, self.nm_height = _int(view, "sizeX"), _int(view, "sizeY")
        if self.nm_width <= 0 or self.nm_height <= 0:
            raise CorruptSlide("a Leica SCN image of no size")
        self.is_macro = (self.nm_x, self.nm_y, self.nm_width, self.nm_height) == (0, 0,
                                                                                  *canvas_nm)
        self.illumination = _text(node, "d:scanSettings/d:illuminationSettings/"
                                        "d:illuminationSource", ns)
        self.objective = _text(node, "d:scanSettings/d:objectiveSettings/d:objective", ns)
        self.aperture = _text(node, "d:scanSettings/d:illuminationSettings/"
                                    "d:numericalAperture", ns)
        self.created = _text(node, "d:creationDate", ns)
        device = node.find("d:device", ns)
        self.device = (device.get("model"), device.get("version")) if device is not None \
            else (None, None)
        dimensions = node.findall("d:pixels/d:dimension", ns)
        if any(d.get("z", "0") != "0" for d in dimensions):
            raise UnsupportedFormat("Leica SCN z-stacks are not supported yet")
        # (directory, width, height), largest first
        self.dimensions = sorted(((_int(d, "ifd"), _int(d, "sizeX"), _int(d, "sizeY"))
                                  for d in dimensions), key=lambda d: -d[1])
        if not self.dimensions or min(min(d[1:]) for d in self.dimensions) <= 0:
            raise CorruptSlide("a Leica SCN image without dimensions")

    def nm_per_pixel(self, level: int) -> float:
        return self.nm_width / self.dimensions[level][1]


def _collection(root: ET.Element) -> tuple[ET.Element, dict]:
    ns = {"d": root.tag[1:].split("}")[0]}
    collection = root.find("d:collection", ns)
    if collection is None:
        raise CorruptSlide("a Leica SCN description without a <collection>")
    return collection, ns


def _regions(images: list[_Image]) -> list[_Image]:
    """The main images, checked to be composable into one pyramid."""
    regions = [image for image in images if not image.is_macro]
    if not regions:
        raise UnsupportedFormat("a Leica SCN collection without a main image")
    for image in regions:
        if image.illumination != _BRIGHTFIELD:
            raise UnsupportedFormat(f"Leica SCN {image.illumination or 'unnamed'} illumination "
                                    "(fluorescence) is not supported yet")
    first = regions[0]
    for image in regions[1:]:
        if image.objective != first.objective or len(image.dimensions) != len(first.dimensions):
            raise UnsupportedFormat("a Leica SCN collection of dissimilar main images")
        for level in range(len(first.dimensions)):
            similarity = 1 - abs(image.nm_per_pixel(level) - first.nm_per_pixel(level)) \
                / first.nm_per_pixel(level)
            if similarity < _SIMILAR:
                raise UnsupportedFormat("Leica SCN main images of inconsistent resolutions")
    return regions


def _page(tiff: tifffile.TiffFile, directory: int) -> tifffile.TiffPage:
    if not 0 <= directory < len(tiff.pages):
        raise CorruptSlide(f"the Leica SCN XML names directory {directory} of "
                           f"{len(tiff.pages)}")
    return tiff.pages[directory]


def _level(tiff: tifffile.TiffFile, regions: list[_Image], number: int,
           canvas_nm: tuple[int, int]) -> Level:
    """Level `number`: every region's directory as placed tiles on the collection canvas."""
    nm_per_pixel = min(image.nm_per_pixel(number) for image in regions)
    width = math.ceil(canvas_nm[0] / nm_per_pixel)
    height = math.ceil(canvas_nm[1] / nm_per_pixel)
    # OpenSlide paints regions in order with a saturating operator (the first paint of a
    # pixel stays); placed tiles are painted each over the ones before: regions go last first.
    pages = [(image, _page(tiff, image.dimensions[number][0])) for image in reversed(regions)]
    first = image_of(pages[0][1])
    offsets, counts, positions = [], [], []
    for image, page in pages:
        stored = image_of(page)
        if (stored.encoding, stored.tile_width, stored.tile_height) != (
                first.encoding, first.tile_width, first.tile_height):
            raise UnsupportedFormat("Leica SCN regions stored in different tile sizes or "
                                    "encodings")
        if not isinstance(stored.layout, Segments) or stored.layout.strips:
            raise UnsupportedFormat("a Leica SCN region that is not tiled")
        if len(pages) > 1:
            offsets += page.dataoffsets
            counts += page.databytecounts
        x0, y0 = int(image.nm_x / nm_per_pixel), int(image.nm_y / nm_per_pixel)
        columns, rows = stored.grid
        tw, th = stored.tile_width, stored.tile_height
        positions += [(x0 + c * tw, y0 + r * th, min(tw, stored.width - c * tw),
                       min(th, stored.height - r * th))
                      for r in range(rows) for c in range(columns)]
    if len(positions) > math.ceil(width / first.tile_width) * math.ceil(height / first.tile_height):
        raise UnsupportedFormat("a Leica SCN level with more tiles than its canvas has cells")
    layout = first.layout
    if len(pages) > 1:  # the regions' tile tables lie apart in the file: kept inline
        layout = Segments(first.tile_width, first.tile_height,
                          IntArray(len(offsets), tuple(offsets)),
                          IntArray(len(counts), tuple(counts)))
    return Level(width, height, first.encoding, layout, 1.0, positions=tuple(positions))


def _properties(first: tifffile.TiffPage, main: _Image, regions: list[_Image],
                level0_nm: float) -> dict[str, str]:
    properties = tiff_properties(first)
    properties.pop("tiff.ImageDescription", None)  # the XML, whose fields follow
    for name, value in (("aperture", main.aperture), ("creation-date", main.created),
                        ("device-model", main.device[0]), ("device-version", main.device[1]),
                        ("illumination-source", main.illumination),
                        ("objective", main.objective)):
        if value is not None:
            properties[f"leica.{name}"] = value
    bounds = []
    for n, image in enumerate(regions):
        x, y = int(image.nm_x / level0_nm), int(image.nm_y / level0_nm)
        width, height = image.dimensions[0][1:]
        bounds.append((x, y, x + width, y + height))
        properties.update({f"openslide.region[{n}].x": str(x), f"openslide.region[{n}].y": str(y),
                           f"openslide.region[{n}].width": str(width),
                           f"openslide.region[{n}].height": str(height)})
    left, top = min(b[0] for b in bounds), min(b[1] for b in bounds)
    properties.update({"openslide.bounds-x": str(left), "openslide.bounds-y": str(top),
                       "openslide.bounds-width": str(max(b[2] for b in bounds) - left),
                       "openslide.bounds-height": str(max(b[3] for b in bounds) - top)})
    return properties


def parse(tiff: tifffile.TiffFile) -> SlideIndex:
    first = tiff.pages.first
    collection, ns = _collection(parse_xml(first.description, "Leica SCN"))
    canvas_nm = (_int(collection, "sizeX"), _int(collection, "sizeY"))
    if min(canvas_nm) <= 0:
        raise CorruptSlide("a Leica SCN collection of no size")
    images = [_Image(node, ns, canvas_nm) for node in collection.findall("d:image", ns)]
    regions = _regions(images)
    levels = [_level(tiff, regions, n, canvas_nm) for n in range(len(regions[0].dimensions))]
    base = levels[0]
    levels = [Level(level.width, level.height, level.encoding, level.layout,
                    (base.width / level.width + base.height / level.height) / 2,
                    positions=level.positions) for level in levels]
    macros = [image for image in images if image.is_macro and image.illumination == _BRIGHTFIELD]
    if len(macros) > 1:
        raise CorruptSlide("a Leica SCN collection with several macro images")
    associated: dict[str, Image] = {}
    if macros:
        associated["macro"] = image_of(_page(tiff, macros[0].dimensions[0][0]))
    level0 = _page(tiff, regions[0].dimensions[0][0])
    objective = regions[0].objective
    level0_nm = min(image.nm_per_pixel(0) for image in regions)
    properties = _properties(level0, regions[0], regions, level0_nm)
    barcode = _barcode(collection, ns)
    if barcode is not None:
        properties[_BARCODE] = barcode
    return SlideIndex(
        format="leica",
        levels=tuple(levels),
        mpp=resolution_mpp(level0),
        objective_power=float(objective) if objective and objective.isdigit() else None,
        properties=properties,
        phi_properties=(_BARCODE,) if barcode is not None else (),
        associated=associated,
        icc_profile=icc.locate(level0),
    )
