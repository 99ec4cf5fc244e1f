"""Ventana BIF (and stitched Ventana TIFF): recognised by the iScan XMP (tag 700) of the
first directory, as OpenSlide recognises it.

Levels are the directories described `level=N mag=M`; the downsample of a level is level 0's
magnification over its own. The 'Label Image' directory is the macro (the whole glass), the
'Thumbnail' the thumbnail. Level 0's own XMP, EncodeInfo, describes the scanned areas (AOIs):
each a block of camera fields stored as tiles, which overlap. The joints between neighbouring
fields give their overlaps with a confidence; as OpenSlide does, the fields are placed at one
advance per axis, the tile size less the confidence-weighted mean overlap, and each area at
its position (measured from the bottom of the glass). Joint tile numbers count in a serpentine
from the area's bottom left. DP 200 scanners write LEFT and DOWN joints, which OpenSlide
refuses; their overlaps are taken as those of RIGHT and UP joints. A file without EncodeInfo
is a stitched Ventana TIFF: plain grids.
"""

import math
import xml.etree.ElementTree as ET

import tifffile

from ..errors import CorruptSlide, UnsupportedFormat
from .index import Level, SlideIndex
from .levels import Lattice
from .philips import parse_xml
from . import icc
from .tiff_pages import image_of, tiff_properties

_XMP = 700
_ASSOCIATED = {"Label Image": "macro", "Label_Image": "macro", "Thumbnail": "thumbnail"}
_HORIZONTAL, _VERTICAL = ("RIGHT", "LEFT"), ("UP", "DOWN")


def _xmp(page: tifffile.TiffPage) -> str:
    value = page.tags.valueof(_XMP)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return value if isinstance(value, str) else ""


def _iscan(root: ET.Element) -> ET.Element | None:
    if root.tag == "iScan":
        return root
    return root.find("iScan") if root.tag == "Metadata" else None


def is_ventana(page: tifffile.TiffPage) -> bool:
    text = _xmp(page)
    if "iScan" not in text:
        return False
    try:
        return _iscan(parse_xml(text, "Ventana iScan")) is not None
    except CorruptSlide:
        return False


def _number(node: ET.Element, name: str, kind=int):
    try:
        value = kind(node.get(name, ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise CorruptSlide(f"Ventana EncodeInfo <{node.tag}> without a numeric {name}")
    return value


def _level_fields(description: str) -> tuple[int, float]:
    fields = dict(pair.split("=", 1) for pair in description.split() if "=" in pair)
    try:
        level, magnification = int(fields["level"]), float(fields["mag"])
    except (KeyError, ValueError):
        raise CorruptSlide(f"a Ventana level description {description[:80]!r} without a "
                           "level number and magnification") from None
    if not magnification > 0:
        raise CorruptSlide(f"a Ventana level of magnification {magnification}")
    return level, magnification


def _tile_position(number: int, columns: int, rows: int) -> tuple[int, int]:
    """Area column and row (from the top) of a joint's 1-based serpentine tile number."""
    if not 1 <= number <= columns * rows:
        raise CorruptSlide(f"a Ventana tile joint names tile {number} of {columns * rows}")
    column, row = (number - 1) % columns, (number - 1) // columns
    if row % 2:  # every other row from the bottom runs right to left
        column = columns - column - 1
    return column, rows - row - 1


def _joint_overlap(joint: ET.Element, columns: int, rows: int) -> tuple[int, float, int]:
    """(axis, overlap, confidence) of a joint between neighbouring fields."""
    direction = joint.get("Direction", "")
    (c1, r1), (c2, r2) = (_tile_position(_number(joint, name), columns, rows)
                          for name in ("Tile1", "Tile2"))
    if direction in _HORIZONTAL and abs(c2 - c1) == 1 and r1 == r2:
        return 0, _number(joint, "OverlapX", float), _number(joint, "Confidence")
    if direction in _VERTICAL and abs(r2 - r1) == 1 and c1 == c2:
        return 1, _number(joint, "OverlapY", float), _number(joint, "Confidence")
    raise CorruptSlide(f"a Ventana {direction or 'undirected'} joint between tiles that are "
                       "not neighbours that way")


def lattice_of(encode_info: str, tile: tuple[int, int]) -> tuple[tuple[float, float], tuple]:
    """(advance, areas) of the scanned areas EncodeInfo describes, areas as Lattice has them,
    y measured from the top."""
    root = parse_xml(encode_info, "Ventana EncodeInfo")
    infos = root.findall("SlideStitchInfo/ImageInfo")
    origins = list(root.find("AoiOrigin") if root.find("AoiOrigin") is not None else [])
    if not infos or len(infos) != len(origins):
        raise CorruptSlide("Ventana EncodeInfo with missing or inconsistent area metadata")
    areas, weighted, weights = [], [0.0, 0.0], [0, 0]
    for info, origin in zip(infos, origins):
        if not _number(info, "AOIScanned"):
            continue
        if (_number(info, "Width"), _number(info, "Height")) != tile:
            raise CorruptSlide("Ventana area tiles of another size than the level's")
        origin_x, origin_y = _number(origin, "OriginX"), _number(origin, "OriginY")
        if origin_x % tile[0] or origin_y % tile[1] or min(origin_x, origin_y) < 0:
            raise CorruptSlide("a Ventana area origin off the tile grid")
        columns, rows = _number(info, "NumCols"), _number(info, "NumRows")
        if columns < 1 or rows < 1:
            raise CorruptSlide(f"a Ventana area of {columns}x{rows} tiles")
        for joint in info.findall("TileJointInfo"):
            axis, overlap, confidence = _joint_overlap(joint, columns, rows)
            if confidence < 0:
                raise CorruptSlide(f"a Ventana tile joint of confidence {confidence}")
            weighted[axis] += confidence * overlap
            weights[axis] += confidence
        areas.append([origin_x // tile[0], origin_y // tile[1], columns, rows,
                      _number(info, "Pos-X", float), _number(info, "Pos-Y", float)])
    if not areas:
        raise UnsupportedFormat("a Ventana slide without a scanned area")
    # Without joints along an axis (one row or column) fields are taken to butt together.
    advance = tuple(size - (w / n if n else 0.0) for size, w, n in zip(tile, weighted, weights))
    if min(advance) <= 0:
        raise CorruptSlide("Ventana tile overlaps as large as the tiles")
    heights = [(area[3] - 1) * advance[1] + tile[1] for area in areas]
    top = max(area[5] + height for area, height in zip(areas, heights))
    for area, height in zip(areas, heights):
        area[5] = top - area[5] - height
    return advance, tuple(tuple(area) for area in areas)


def _extent(advance, areas, tile) -> tuple[float, float]:
    """Level 0's right and bottom edge: the far side of the farthest field."""
    return (max(a[4] + (a[2] - 1) * advance[0] + tile[0] for a in areas),
            max(a[5] + (a[3] - 1) * advance[1] + tile[1] for a in areas))


def _levels(pages: list[tifffile.TiffPage]) -> list[Level]:
    first, magnifications = pages[0], [_level_fields(p.description)[1] for p in pages]
    tile = (first.tilewidth, first.tilelength)
    encode_info = _xmp(first)
    lattice = lattice_of(encode_info, tile) if "EncodeInfo" in encode_info else None
    levels = []
    for page, magnification in zip(pages, magnifications):
        image = image_of(page)
        downsample = magnifications[0] / magnification
        if (image.tile_width, image.tile_height) != tile:
            raise UnsupportedFormat("Ventana levels of different tile sizes")
        if lattice is None:  # a stitched Ventana TIFF
            levels.append(Level(image.width, image.height, image.encoding, image.layout,
                                downsample, scale=(downsample, downsample)))
            continue
        split = round(downsample)
        if split != downsample or tile[0] % split or tile[1] % split:
            continue  # a level whose tiles do not cut into whole fields; the rest serve
        advance, areas = lattice
        right, bottom = _extent(advance, areas, tile)
        columns, rows = image.grid
        if any(-(-(a[0] + a[2]) // split) > columns or -(-(a[1] + a[3]) // split) > rows
               for a in areas):
            raise CorruptSlide(f"a Ventana area reaching past the {columns}x{rows} stored tiles")
        levels.append(Level(math.ceil(right / downsample), math.ceil(bottom / downsample),
                            image.encoding, image.layout, downsample,
                            scale=(downsample, downsample),
                            lattice=Lattice(columns, rows, split, advance, areas)))
    return levels


def _region_properties(levels: list[Level]) -> dict[str, str]:
    """OpenSlide's region properties: each area's box at level 0."""
    lattice = levels[0].lattice
    if lattice is None:
        return {}
    properties = {}
    (advance_x, advance_y), tile = lattice.advance, (levels[0].tile_width, levels[0].tile_height)
    for n, (column, row, columns, rows, _, _) in enumerate(lattice.areas):
        properties.update({
            f"openslide.region[{n}].x": str(int(advance_x * column)),
            f"openslide.region[{n}].y": str(int(advance_y * row)),
            f"openslide.region[{n}].width": str(math.ceil(advance_x * (columns - 1) + tile[0])),
            f"openslide.region[{n}].height": str(math.ceil(advance_y * (rows - 1) + tile[1]))})
    return properties


def parse(tiff: tifffile.TiffFile) -> SlideIndex:
    first = tiff.pages.first
    iscan = _iscan(parse_xml(_xmp(first), "Ventana iScan"))
    properties = {f"ventana.{k}": v for k, v in iscan.attrib.items() if v}
    level_pages, associated = [], {}
    for page in tiff.pages:
        description = page.description or ""
        if "level=" in description:
            level_pages.append(page)
        elif description in _ASSOCIATED and _ASSOCIATED[description] not in associated:
            try:
                associated[_ASSOCIATED[description]] = image_of(page)
            except UnsupportedFormat:
                continue  # an extra the viewer can do without; the slide still opens
    numbers = [_level_fields(page.description)[0] for page in level_pages]
    if not level_pages or numbers != list(range(len(level_pages))):
        raise CorruptSlide(f"Ventana levels numbered {numbers}, expected 0, 1, 2...")
    magnifications = [_level_fields(page.description)[1] for page in level_pages]
    if any(b >= a for a, b in zip(magnifications, magnifications[1:])):
        raise CorruptSlide("Ventana levels whose magnifications do not decrease")
    if not all(page.is_tiled for page in level_pages):
        raise UnsupportedFormat("a Ventana level that is not tiled")
    levels = _levels(level_pages)
    properties.update(tiff_properties(level_pages[0]))
    properties.update(_region_properties(levels))
    scan_res = properties.get("ventana.ScanRes", "")
    magnification = properties.get("ventana.Magnification", "")
    try:
        mpp = float(scan_res)
    except ValueError:
        mpp = 0.0
    return SlideIndex(
        format="ventana",
        levels=tuple(levels),
        mpp=(mpp, mpp) if mpp > 0 else None,
        objective_power=float(magnification) if magnification.isdigit() else None,
        properties=properties,
        associated=associated,
        icc_profile=icc.locate(level_pages[0]),
    )
