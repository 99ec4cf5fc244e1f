"""The REST API: slide listing, metadata, and service health."""

from flask import Blueprint, jsonify, request, url_for

from ..errors import BadRequest, WSIError
from ..slide_ids import validate_slide_id
from .context import state

MAX_PAGE = 1000


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def list_slides():
    prefix = request.args.get("prefix", "")
    if prefix:
        validate_slide_id(prefix.rstrip("/") or "x")
    cursor = request.args.get("cursor") or None
    if cursor:
        validate_slide_id(cursor)
    limit = _int_arg("limit", 100, 1, MAX_PAGE)
    page = state().store.list(prefix=prefix, limit=limit, cursor=cursor)
    return jsonify({"slides": [s.to_dict() for s in page.slides],
                    "next_cursor": page.next_cursor})


VENDORS = {"aperio": "aperio", "generic-tiff": "generic-tiff", "hamamatsu": "hamamatsu"}


def slide_urls(slide_id: str) -> dict:
    """Every URL a client may follow for this slide, built by Flask for wherever we are mounted."""
    return {
        "metadata": url_for(".slide_metadata", slide_id=slide_id, _external=True),
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


def healthz():
    return jsonify({"status": "ok"})


def readyz():
    """Ready when the store answers and every memcached server does (if any is configured)."""
    current = state()
    checks = {}
    try:
        current.store.check()
        checks["store"] = "ok"
    except WSIError as error:
        checks["store"] = error.message
    if current.caches.shared is not None:
        checks["memcached"] = "ok" if current.caches.shared.ping() else "unreachable"
    ready = all(v == "ok" for v in checks.values())
    response = jsonify({"status": "ready" if ready else "not ready", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/slides", "list_slides", list_slides)
    bp.add_url_rule("/slides/<path:slide_id>", "slide_metadata", slide_metadata)
    bp.add_url_rule("/healthz", "healthz", healthz)
    bp.add_url_rule("/readyz", "readyz", readyz)
