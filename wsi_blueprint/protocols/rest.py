"""The REST API: slide listing, metadata, and service health."""

from flask import Blueprint, g, jsonify, request, url_for

from ..errors import BadRequest, Forbidden, NotFound, ObjectChanged
from ..reader import SlideReader, ThumbnailRequest, output_format
from ..security.access import listing_prefix
from .color import requested_color
from .context import state
from .images import cached_response, serve
from ..reader.listing import list_entries, listing_arguments

MAX_PAGE = 1000
ICC_TYPE = "application/vnd.iccprofile"


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def list_slides():
    arguments = listing_arguments(request.args, prefix=listing_prefix(g.get("wsi_grant")))
    limit = _int_arg("limit", 100, 1, MAX_PAGE)
    listing = list_entries(state().store, limit=limit, **arguments)
    return jsonify({"slides": listing.entries, "next_cursor": listing.next_cursor})


PATIENT_IMAGES = ("label", "macro")  # they show names and barcodes


def shown_properties(reader: SlideReader) -> dict[str, str]:
    """The slide's properties, a barcode only where the label and macro images are served."""
    return reader.shown_properties(state().settings.show_label_and_macro)


VENDORS = {"aperio": "aperio", "generic-tiff": "generic-tiff", "hamamatsu": "hamamatsu"}


def slide_urls(slide_id: str) -> dict:
    """Every URL a client may follow for this slide, built by Flask for wherever we are mounted."""
    return {
        "metadata": url_for(".slide_metadata", slide_id=slide_id, _external=True),
        "thumbnail": url_for(".slide_thumbnail", slide_id=slide_id, _external=True),
        "dzi": url_for(".dzi_descriptor", slide_id=slide_id, _external=True),
        "iiif": url_for(".iiif3_base", slide_id=slide_id, _external=True),
        "iiif2": url_for(".iiif2_base", slide_id=slide_id, _external=True),
        "manifest": url_for(".iiif3_manifest", slide_id=slide_id, _external=True),
        "viewer": url_for(".viewer", slide_id=slide_id, _external=True),
    }


def icc_summary(reader: SlideReader) -> dict | None:
    """What a client shows of the slide's ICC profile, and where to get it; None without one."""
    profile = reader.profile()
    if profile is None:
        return None
    return {"description": profile.description, "size": profile.length,
            "color_space": profile.color_space,
            "url": url_for(".slide_icc", slide_id=reader.slide_id, _external=True)}


def slide_metadata(slide_id: str):
    reader = state().readers.open(slide_id)
    index = reader.info()
    return jsonify({
        "id": slide_id,
        "format": index.format,
        "vendor": VENDORS.get(index.format, index.format),
        "width": index.width,
        "height": index.height,
        "levels": [{"width": level.width, "height": level.height,
                    "downsample": level.downsample, "tile_width": level.tile_width,
                    "tile_height": level.tile_height} for level in index.levels],
        "mpp": list(index.mpp) if index.mpp else None,
        "objective_power": index.objective_power,
        "associated": sorted(index.associated),
        "properties": shown_properties(reader),
        "icc_profile": icc_summary(reader),
        "urls": slide_urls(slide_id),
    })


def slide_thumbnail(slide_id: str):
    settings = state().settings
    max_size = _int_arg("max_size", 512, 1, settings.max_thumbnail_size)
    fmt = output_format(request.args.get("format", "jpeg"))
    reader = state().readers.open(slide_id)
    return serve(reader, ThumbnailRequest(max_size, fmt, settings.jpeg_quality,
                                          reader.color_for(requested_color())))


def slide_icc(slide_id: str):
    """The slide's ICC profile as stored; 404 if it has none. A profile read that meets a
    replaced object is read again from the new version, as images are."""
    try:
        return _icc_response(state().readers.open(slide_id))
    except ObjectChanged:
        state().library.reopen(slide_id)
        return _icc_response(state().readers.open(slide_id))


def _icc_response(reader: SlideReader):
    if reader.profile() is None:
        raise NotFound(f"slide {reader.slide_id!r} has no ICC profile")
    return cached_response(reader, "icc", reader.profile_bytes, ICC_TYPE)


def native_tile(slide_id: str, level: int, col: int, row: int):
    """A stored tile of stored level `level`, passed through where it can be."""
    reader = state().readers.open(slide_id)
    req = reader.stored_tile_request(level, col, row, state().settings.jpeg_quality,
                                     requested_color())  # 404s
    return serve(reader, req)


def associated_image(slide_id: str, name: str):
    settings = state().settings
    fmt = output_format(request.args.get("format", "jpeg"))
    if name in PATIENT_IMAGES and not settings.show_label_and_macro:
        raise Forbidden(f"the {name} image is not served: it may show patient identity "
                        "(WSI_SHOW_LABEL_AND_MACRO turns it on)")
    reader = state().readers.open(slide_id)
    return serve(reader, reader.associated_request(name, fmt, settings.jpeg_quality,
                                                   requested_color()))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/slides", "list_slides", list_slides)
    bp.add_url_rule("/slides/<path:slide_id>", "slide_metadata", slide_metadata)
    bp.add_url_rule("/slides/<path:slide_id>/thumbnail", "slide_thumbnail", slide_thumbnail)
    bp.add_url_rule("/slides/<path:slide_id>/icc", "slide_icc", slide_icc)
    bp.add_url_rule("/slides/<path:slide_id>/associated/<name>", "associated_image",
                    associated_image)
    bp.add_url_rule("/tiles/<path:slide_id>/<int:level>/<int:col>/<int:row>.jpg", "native_tile",
                    native_tile)
