"""Aperio SVS: a TIFF whose ImageDescription starts with 'Aperio'.

Tiled directories are the pyramid levels. The second directory, stored in strips, is the
thumbnail; label and macro are strip directories named on the second line of their
description (older files only flag them with NewSubfileType 1 and 9). Vendor properties are
the description's 'key = value' fields after the first '|'.
"""

import tifffile

from ..errors import UnsupportedFormat
from . import icc
from .index import SlideIndex
from .tiff_pages import as_levels, image_of, tiff_properties

_SUBFILE_NAMES = {1: "label", 9: "macro"}


def is_aperio(page: tifffile.TiffPage) -> bool:
    return (page.description or "").startswith("Aperio")


def _description_fields(description: str) -> dict[str, str]:
    fields = {}
    for part in description.split("|")[1:]:
        key, sep, value = part.partition("=")
        if sep and key.strip():
            fields[f"aperio.{key.strip()}"] = value.strip()
    return fields


def _associated_name(index: int, page: tifffile.TiffPage) -> str | None:
    if index == 1:
        return "thumbnail"
    lines = (page.description or "").splitlines()
    word = lines[1].split(" ")[0].lower() if len(lines) > 1 else ""
    if word in ("label", "macro"):
        return word
    return _SUBFILE_NAMES.get(int(page.subfiletype))


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value and value > 0 else None


def parse(tiff: tifffile.TiffFile) -> SlideIndex:
    pages = list(tiff.pages)
    levels, associated, associated_pages = [], {}, {}
    for index, page in enumerate(pages):
        if page.is_tiled:
            levels.append(image_of(page))
            continue
        name = _associated_name(index, page)
        if name and name not in associated:
            try:
                associated[name] = image_of(page)
            except UnsupportedFormat:
                continue  # an extra the viewer can do without; the slide still opens
            associated_pages[name] = page
    if not levels or not pages[0].is_tiled:
        raise UnsupportedFormat("an Aperio file whose first image is not tiled")
    first = pages[0]
    properties = {**tiff_properties(first), **_description_fields(first.description)}
    properties["openslide.comment"] = first.description
    mpp = _number(properties.get("aperio.MPP"))
    objective_power = _number(properties.get("aperio.AppMag"))
    return SlideIndex(
        format="aperio",
        levels=as_levels(levels),
        mpp=(mpp, mpp) if mpp else None,
        objective_power=objective_power,
        properties=properties,
        associated=associated,
        icc_profile=icc.locate(first),
        associated_icc=icc.locate_each(associated_pages),
    )
