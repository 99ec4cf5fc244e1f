"""The REST API: slide listing, metadata, and service health."""

from flask import Blueprint, g, jsonify, request, url_for

from ..errors import BadRequest, Forbidden, NotFound
from ..formats.slide import Slide
from ..imaging.associated import read_associated
from ..imaging.cpu_pool import run_cpu
from ..imaging.encode import encode, output_format
from ..imaging.passthrough import native_tile_jpeg
from ..imaging.region import thumbnail
from ..security.access import listing_prefix
from ..slide_ids import validate_slide_id
from .context import state
from .images import image_key, image_response, note_view
from .listing import list_entries, listing_arguments

MAX_PAGE = 1000


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


def slide_metadata(slide_id: str):
    index = state().library.open(slide_id).index
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
        "properties": index.properties,
        "urls": slide_urls(slide_id),
    })


def slide_thumbnail(slide_id: str):
    settings = state().settings
    max_size = _int_arg("max_size", 512, 1, settings.max_thumbnail_size)
    fmt = output_format(request.args.get("format", "jpeg"))

    def work(slide: Slide):
        key = image_key(slide, "thumbnail", max_size, fmt, settings.jpeg_quality)
        return image_response(key, fmt, lambda: thumbnail(
            slide, max_size, finish=lambda pixels: encode(pixels, fmt, settings.jpeg_quality)))

    return state().library.run(slide_id, work)


def native_tile(slide_id: str, level: int, col: int, row: int):
    """A stored tile of stored level `level`, passed through where it can be."""
    quality = state().settings.jpeg_quality

    def work(slide: Slide):
        columns, rows = slide.tile_grid(level)  # 404s before any work or prefetch
        if not (0 <= col < columns and 0 <= row < rows):
            raise NotFound(f"no tile {col},{row} in level {level} ({columns}x{rows} tiles)")
        stored = slide.levels[level]
        scale = stored.downsample
        note_view(slide, slide_id, round(col * stored.tile_width * scale),
                  round(row * stored.tile_height * scale), round(stored.tile_width * scale),
                  round(stored.tile_height * scale), scale)
        key = image_key(slide, "tile", level, col, row, quality)
        return image_response(key, "jpeg", lambda: native_tile_jpeg(
            slide.read_tiles(level, [(col, row)])[0], quality))

    return state().library.run(slide_id, work)


def associated_image(slide_id: str, name: str):
    settings = state().settings
    fmt = output_format(request.args.get("format", "jpeg"))
    if name in PATIENT_IMAGES and not settings.show_label_and_macro:
        raise Forbidden(f"the {name} image is not served: it may show patient identity "
                        "(WSI_SHOW_LABEL_AND_MACRO turns it on)")

    def work(slide: Slide):
        if name not in slide.associated_names:
            raise NotFound(f"slide {slide_id!r} has no {name!r} image")
        key = image_key(slide, "associated", name, fmt, settings.jpeg_quality)
        return image_response(key, fmt, lambda: run_cpu(
            encode, read_associated(slide, name), fmt, settings.jpeg_quality))

    return state().library.run(slide_id, work)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/slides", "list_slides", list_slides)
    bp.add_url_rule("/slides/<path:slide_id>", "slide_metadata", slide_metadata)
    bp.add_url_rule("/slides/<path:slide_id>/thumbnail", "slide_thumbnail", slide_thumbnail)
    bp.add_url_rule("/slides/<path:slide_id>/associated/<name>", "associated_image",
                    associated_image)
    bp.add_url_rule("/tiles/<path:slide_id>/<int:level>/<int:col>/<int:row>.jpg", "native_tile",
                    native_tile)
