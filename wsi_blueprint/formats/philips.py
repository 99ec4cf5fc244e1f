"""Philips TIFF: a tiled pyramid described by a DICOM-like XML document in ImageDescription.

Recognised as OpenSlide recognises it: Software starts with 'Philips' and the description is
a `DataObject` of ObjectType `DPUfsImport`. The level directories are padded to whole tiles,
so a reduced level's true size is level 0's divided by its downsample, and the downsample
comes from the XML's per-level DICOM_PIXEL_SPACING (rounded to a whole number, as OpenSlide
does). Slides of several scanned areas leave the tiles between them unstored (offset and byte
count 0): those read as white. Label and macro are the strip directories whose description
starts with 'Label' and 'Macro', else the base64 JPEGs of the XML's LABELIMAGE and MACROIMAGE,
read from where their text lies in the file.
"""

import base64
import binascii
import math
import xml.etree.ElementTree as ET

import tifffile

from ..errors import CorruptSlide, UnsupportedFormat
from .index import Encoding, Image, IntArray, Level, Segments, SlideIndex
from .jpeg_stream import frame_of
from . import icc
from .tiff_pages import image_of, tiff_properties

_SCANNED_IMAGES = "PIM_DP_SCANNED_IMAGES"
_REPRESENTATIONS = "PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE"
_REDUCED = 1  # NewSubfileType bit: a reduced-resolution image
_ASSOCIATED = {"Label": "label", "Macro": "macro"}
_BARCODE = "PIM_DP_UFS_BARCODE"  # identifies the patient as the label does (phi_properties)


def parse_xml(text: str, what: str) -> ET.Element:
    """A vendor's XML description; a DOCTYPE (entities) is refused unparsed."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise CorruptSlide(f"the {what} XML declares a DOCTYPE")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise CorruptSlide(f"the {what} XML does not parse ({exc})") from None


def is_philips(page: tifffile.TiffPage) -> bool:
    software = page.tags.valueof(305) or ""
    description = page.description or ""
    if not (isinstance(software, str) and software.startswith("Philips")
            and description.lstrip().startswith("<")):
        return False
    try:
        root = parse_xml(description, "Philips")
    except CorruptSlide:
        return False
    return root.tag == "DataObject" and root.get("ObjectType") == "DPUfsImport"


def _attributes(node: ET.Element) -> dict[str, ET.Element]:
    return {a.get("Name"): a for a in node.findall("Attribute") if a.get("Name")}


def _image_type(node: ET.Element) -> str:
    attribute = _attributes(node).get("PIM_DP_IMAGE_TYPE")
    return (attribute.text or "").strip() if attribute is not None else ""


def _main_image(root: ET.Element) -> ET.Element:
    scanned = _attributes(root).get(_SCANNED_IMAGES)
    images = scanned.findall("Array/DataObject") if scanned is not None else []
    wsi = [image for image in images if _image_type(image) == "WSI"]
    if len(wsi) != 1:
        raise UnsupportedFormat(f"a Philips TIFF with {len(wsi)} WSI images in its XML "
                                "(one expected)")
    return wsi[0]


def _properties(node: ET.Element, prefix: str, properties: dict[str, str]) -> None:
    """`philips.NAME` for each leaf attribute, as OpenSlide names them: the first WSI image's
    attributes under the same prefix, each pixel data representation under `NAME[i]`."""
    for name, attribute in _attributes(node).items():
        if name == _SCANNED_IMAGES:
            _properties(_main_image(node), prefix, properties)
        elif name == _REPRESENTATIONS:
            for i, item in enumerate(attribute.findall("Array/DataObject")):
                _properties(item, f"{prefix}.{name}[{i}]", properties)
        elif len(attribute) == 0:
            properties[f"{prefix}.{name}"] = attribute.text or ""


def pixel_spacing(text: str | None) -> tuple[float, float]:
    """(x, y) in millimetres from '"row" "column"' spacing."""
    parts = (text or "").replace('"', " ").split()
    try:
        row, column = (float(p) for p in parts)
    except ValueError:
        raise CorruptSlide(f"a Philips pixel spacing {text!r} that is not two numbers") from None
    if not (row > 0 and column > 0 and math.isfinite(row) and math.isfinite(column)):
        raise CorruptSlide(f"a Philips pixel spacing {text!r} that is not positive")
    return column, row


def _level_spacings(main: ET.Element) -> list[tuple[float, float]]:
    sequence = _attributes(main).get(_REPRESENTATIONS)
    items = sequence.findall("Array/DataObject") if sequence is not None else []
    spacings = [_attributes(item).get("DICOM_PIXEL_SPACING") for item in items
                if item.get("ObjectType") == "PixelDataRepresentation"]
    return [pixel_spacing(s.text if s is not None else None) for s in spacings]


def _objective_power(derivation: str | None) -> float | None:
    """The first `levels=` entry of DICOM_DERIVATION_DESCRIPTION when it looks like a
    magnification (OpenSlide's rule: a whole number from 1 to 200)."""
    for item in (derivation or "").split("-"):
        key, _, value = item.partition("=")
        if key == "sourceFilename":
            break
        if key == "levels":
            first = value.split(",")[0]
            return float(first) if first.isdigit() and 0 < int(first) <= 200 else None
    return None


def _level(page: tifffile.TiffPage, width: int, height: int, downsample: float) -> Level:
    """A level clipped to its true size; tiles stored with no data are gaps."""
    image = image_of(page)
    if (math.ceil(width / image.tile_width), math.ceil(height / image.tile_height)) != (
            math.ceil(page.imagewidth / image.tile_width),
            math.ceil(page.imagelength / image.tile_height)):
        raise CorruptSlide(f"a Philips level of {page.imagewidth}x{page.imagelength} pixels "
                           f"padded beyond a tile from its size {width}x{height}")
    counts, offsets = page.databytecounts, page.dataoffsets
    present = tuple(i for i, (o, c) in enumerate(zip(offsets, counts)) if o and c)
    return Level(width, height, image.encoding, image.layout, downsample,
                 scale=(downsample, downsample) if downsample != 1 else None,
                 present=None if len(present) == len(counts) else present)


def _xml_image(tiff: tifffile.TiffFile, root: ET.Element, image_type: str) -> Image | None:
    """The first `image_type` scanned image of the XML, a base64 JPEG, read where its text
    lies in the file; None if there is none or it is not a JPEG."""
    scanned = _attributes(root).get(_SCANNED_IMAGES)
    images = scanned.findall("Array/DataObject") if scanned is not None else []
    node = next((image for image in images if _image_type(image) == image_type), None)
    data = _attributes(node).get("PIM_DP_IMAGE_DATA") if node is not None else None
    text = (data.text or "").strip().encode("ascii", "replace") if data is not None else b""
    tag = tiff.pages.first.tags[270]
    tiff.filehandle.seek(tag.valueoffset)
    at = tiff.filehandle.read(tag.count).find(text) if text else -1
    if at < 0:
        return None
    try:
        frame = frame_of(base64.b64decode(text))
    except (binascii.Error, CorruptSlide):
        return None  # an extra the viewer can do without; the slide still opens
    layout = Segments(frame.width, frame.height, IntArray(1, (tag.valueoffset + at,)),
                      IntArray(1, (len(text),)), strips=True, base64=True)
    return Image(frame.width, frame.height, Encoding("jpeg", "ycbcr"), layout)


def parse(tiff: tifffile.TiffFile) -> SlideIndex:
    first = tiff.pages.first
    root = parse_xml(first.description, "Philips")
    main = _main_image(root)
    tiled, associated = [], {}
    for page in tiff.pages:
        if page.is_tiled:
            if tiled and not int(page.subfiletype) & _REDUCED:
                raise UnsupportedFormat("a Philips directory after level 0 that is not "
                                        "reduced-resolution")
            if tiled and (page.imagewidth > tiled[-1].imagewidth
                          or page.imagelength > tiled[-1].imagelength):
                raise CorruptSlide("Philips levels that are not sorted by size")
            tiled.append(page)
            continue
        name = _ASSOCIATED.get((page.description or "")[:5])
        if name and name not in associated:
            try:
                associated[name] = image_of(page)
            except UnsupportedFormat:
                continue  # an extra the viewer can do without; the slide still opens
    for name, image_type in (("label", "LABELIMAGE"), ("macro", "MACROIMAGE")):
        if name not in associated:
            image = _xml_image(tiff, root, image_type)
            if image is not None:
                associated[name] = image
    if not tiled or not first.is_tiled:
        raise UnsupportedFormat("a Philips TIFF whose first image is not tiled")
    spacings = _level_spacings(main)
    if len(spacings) != len(tiled):
        raise CorruptSlide(f"the Philips XML gives {len(spacings)} pixel spacings for "
                           f"{len(tiled)} levels")
    base_x, base_y = spacings[0]
    width, height = first.imagewidth, first.imagelength
    levels = []
    for page, (x, y) in zip(tiled, spacings):
        downsample = max(1, round((x / base_x + y / base_y) / 2)) if levels else 1
        levels.append(_level(page, width // downsample, height // downsample, downsample))
    properties = tiff_properties(first)
    del properties["tiff.ImageDescription"]  # the XML, whose fields follow one by one
    _properties(root, "philips", properties)
    mpp = pixel_spacing(properties["philips.DICOM_PIXEL_SPACING"]) \
        if "philips.DICOM_PIXEL_SPACING" in properties else None
    return SlideIndex(
        format="philips",
        levels=tuple(levels),
        mpp=(1e3 * mpp[0], 1e3 * mpp[1]) if mpp else None,
        objective_power=_objective_power(properties.get("philips.DICOM_DERIVATION_DESCRIPTION")),
        properties=properties,
        phi_properties=tuple(key for key in properties if key.endswith(f".{_BARCODE}")),
        associated=associated,
        icc_profile=icc.locate(first),
    )

