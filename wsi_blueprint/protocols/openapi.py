"""`GET /openapi.json`: an OpenAPI 3.1 description of the JSON API, for client generators and
API consoles.

The server entry is built with url_for, so the description is right under any mount prefix or
proxy. Its routes are checked against the blueprint's URL rules in the tests, so it cannot
drift from what the server answers. Schemas are JSON Schema (OpenAPI 3.1), open to added fields.
"""

from flask import Blueprint, jsonify, url_for

from .. import __version__
from ..reader import COLOR_MODES, CONTENT_TYPES
from .iiif_request import FORMATS, QUALITIES

IMAGE_TYPES = sorted(set(CONTENT_TYPES.values()))

# Status -> what it means here; every error is the Error schema.
ERRORS = {
    400: "bad syntax: a malformed id, parameter or IIIF request",
    401: "an access token (or, for /sign, the admin key) is required, or it has expired",
    403: "the token does not grant this slide or listing, or the image is refused",
    404: "unknown slide, level, tile or associated image",
    413: "the requested output is larger than the server's limits",
    415: "the object is not a slide in a supported format",
    422: "the slide's data is corrupt",
    501: "the store cannot do this (an HTTP base URL cannot list)",
    502: "the store answered wrongly (a missing bucket, a refused request)",
    503: "the store is unreachable, or the server is busy",
    504: "the store did not answer in time",
}
SLIDE_ERRORS = (400, 401, 403, 404, 415, 422, 502, 503, 504)
IMAGE_ERRORS = (*SLIDE_ERRORS, 413)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error", "message", "status"],
        "properties": {"error": {"type": "string", "description": "stable machine-readable code"},
                       "message": {"type": "string", "description": "safe to show a person"},
                       "status": {"type": "integer", "minimum": 400, "maximum": 599}},
    },
    "SlideList": {
        "type": "object", "required": ["slides", "next_cursor"],
        "properties": {
            "slides": {"type": "array", "items": {
                "type": "object", "required": ["id", "size", "modified", "kind"],
                "properties": {"id": {"type": "string"},
                               "size": _nullable({"type": "integer"}),
                               "modified": _nullable({"type": "string"}),
                               "kind": {"enum": ["slide", "folder", "other"]}}}},
            "next_cursor": _nullable({"type": "string"}),
        },
    },
    "SlideMetadata": {
        "type": "object",
        "required": ["id", "format", "vendor", "width", "height", "levels", "mpp",
                     "objective_power", "associated", "properties", "icc_profile", "urls"],
        "properties": {
            "id": {"type": "string"}, "format": {"type": "string"},
            "vendor": {"type": "string"},
            "width": {"type": "integer", "minimum": 1},
            "height": {"type": "integer", "minimum": 1},
            "levels": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["width", "height", "downsample", "tile_width", "tile_height"],
                "properties": {"width": {"type": "integer"}, "height": {"type": "integer"},
                               "downsample": {"type": "number"},
                               "tile_width": {"type": "integer"},
                               "tile_height": {"type": "integer"}}}},
            "mpp": _nullable({"type": "array", "items": {"type": "number"},
                              "minItems": 2, "maxItems": 2,
                              "description": "microns per pixel, [x, y]"}),
            "objective_power": _nullable({"type": "number"}),
            "associated": {"type": "array", "items": {"type": "string"}},
            "properties": {"type": "object", "description": "the vendor's own properties"},
            "icc_profile": _nullable(_ref("IccProfile")),
            "urls": {"type": "object", "additionalProperties": {"type": "string",
                                                                "format": "uri"}},
        },
    },
    "IccProfile": {
        "type": "object", "required": ["description", "size", "color_space", "url"],
        "properties": {
            "description": {"type": "string", "description": "the profile's own name"},
            "size": {"type": "integer", "description": "bytes"},
            "color_space": {"type": "string", "description": "the profile's data colour "
                            "space: RGB for a slide's colours"},
            "url": {"type": "string", "format": "uri", "description": "the profile itself"}},
        "description": "the slide's ICC profile; also in IIIF info.json as `wsi:iccProfile`",
    },
    "Token": {
        "type": "object", "required": ["token", "expires_at", "expires_in", "urls"],
        "properties": {
            "token": {"type": "string"},
            "expires_at": {"type": "integer", "description": "Unix seconds"},
            "expires_in": {"type": "integer", "description": "seconds"},
            "urls": {"type": "object", "description": "ready URLs carrying the token: a "
                     "slide's viewer, metadata, dzi, iiif and manifest, or a prefix's slides "
                     "listing", "additionalProperties": {"type": "string", "format": "uri"}},
        },
    },
    "SignRequest": {
        "type": "object",
        "oneOf": [{"required": ["slide_id"]}, {"required": ["prefix"]}],
        "properties": {
            "slide_id": {"type": "string", "minLength": 1},
            "prefix": {"type": "string", "minLength": 1,
                       "description": "an id prefix (a folder, `cases/42/`): the token "
                                      "grants every slide under it and its listing"},
            "expires_in": {"type": "integer", "minimum": 1,
                           "description": "seconds, at most WSI_AUTH_TOKEN_TTL"},
        },
    },
    "Health": {"type": "object", "required": ["status"],
               "properties": {"status": {"const": "ok"}}},
    "Readiness": {
        "type": "object", "required": ["status", "checks"],
        "properties": {"status": {"enum": ["ready", "not ready"]},
                       "checks": {"type": "object", "description": "each check: `ok` or what "
                                  "is wrong", "additionalProperties": {"type": "string"}}},
    },
    "ImageService3": {
        "type": "object",
        "required": ["@context", "id", "type", "protocol", "profile", "width", "height"],
        "properties": {"id": {"type": "string", "format": "uri"},
                       "type": {"const": "ImageService3"}, "profile": {"const": "level2"},
                       "width": {"type": "integer"}, "height": {"type": "integer"},
                       "sizes": {"type": "array"}, "tiles": {"type": "array"}},
        "description": "IIIF Image API 3.0 info.json",
    },
    "ImageService2": {
        "type": "object", "required": ["@context", "@id", "protocol", "profile", "width",
                                       "height"],
        "properties": {"@id": {"type": "string", "format": "uri"},
                       "width": {"type": "integer"}, "height": {"type": "integer"},
                       "profile": {"type": "array", "minItems": 1}},
        "description": "IIIF Image API 2.1 info.json",
    },
    "Manifest": {
        "type": "object", "required": ["@context", "id", "type", "label", "items"],
        "properties": {"id": {"type": "string", "format": "uri"},
                       "type": {"const": "Manifest"},
                       "items": {"type": "array", "minItems": 1}},
        "description": "IIIF Presentation 3 manifest: one canvas painted with the image service",
    },
}


def _param(name: str, where: str, schema: dict, description: str = "",
           required: bool | None = None) -> dict:
    param = {"name": name, "in": where, "schema": schema,
             "required": where == "path" if required is None else required}
    if description:
        param["description"] = description
    return param


SLIDE_ID = _param("slide_id", "path", {"type": "string"},
                  "the object key relative to the store root; may contain slashes, given raw "
                  "or percent-encoded")
INT = {"type": "integer", "minimum": 0}
LEVEL, COL, ROW = (_param(name, "path", INT) for name in ("level", "col", "row"))
OUTPUT_FORMATS = {"enum": ["jpeg", "jpg", "png", "webp"]}  # see imaging.encode.output_format
IMAGE_FORMAT = _param("format", "query", {**OUTPUT_FORMATS, "default": "jpeg"})
COLOR = _param("color", "query", {"enum": list(COLOR_MODES)},
               "colour management with the slide's ICC profile: srgb converts, embed attaches "
               "the profile, raw neither, auto by the profile's size; default WSI_COLOR")


def _json(schema_name: str, description: str, *types: str) -> dict:
    return {"description": description,
            "content": {t: {"schema": _ref(schema_name)} for t in types or ("application/json",)}}


def _images(description: str, types=IMAGE_TYPES) -> dict:
    return {"description": description,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in types}}


def _responses(status: int, ok: dict, errors) -> dict:
    return {str(status): ok,
            **{str(s): {"$ref": f"#/components/responses/E{s}"} for s in errors}}


def _get(summary: str, ok: dict, errors=SLIDE_ERRORS, parameters=(), status: int = 200,
         public: bool = False, tag: str = "slides") -> dict:
    operation = {"summary": summary, "tags": [tag], "parameters": list(parameters),
                 "responses": _responses(status, ok, errors)}
    if public:
        operation["security"] = []
    return {"get": operation}


def _iiif(version: int) -> dict:
    base = f"/iiif/{version}/{{slide_id}}"
    info = "ImageService3" if version == 3 else "ImageService2"
    image_params = [SLIDE_ID, *(_param(n, "path", {"type": "string"}, d) for n, d in (
        ("region", "full, square, x,y,w,h or pct:x,y,w,h"),
        ("size", "max, w,, ,h, pct:n, w,h, !w,h (^ allows upscaling)" if version == 3
         else "full, max, w,, ,h, pct:n, w,h or !w,h"),
        ("rotation", "degrees, multiples of 90 (! mirrors first)")))]
    image_params += [_param("quality", "path", {"enum": list(QUALITIES)}),
                     _param("fmt", "path", {"enum": sorted(FORMATS)}), COLOR]
    redirect = {"description": "see info.json", "headers": {"Location": {
        "schema": {"type": "string", "format": "uri"}}}}
    return {
        base: _get("redirect to info.json", redirect, status=303, parameters=[SLIDE_ID],
                   tag="iiif"),
        f"{base}/info.json": _get(f"IIIF Image API {'3.0' if version == 3 else '2.1'} "
                                  "information", _json(info, "the image service",
                                                       "application/json",
                                                       "application/ld+json"),
                                  parameters=[SLIDE_ID], tag="iiif"),
        f"{base}/{{region}}/{{size}}/{{rotation}}/{{quality}}.{{fmt}}": _get(
            "a IIIF image request", _images("the image"), errors=IMAGE_ERRORS,
            parameters=image_params, tag="iiif"),
    }


def _post(summary: str, ok: dict, errors, *, body: dict | None = None,
          security: list | None = None) -> dict:
    operation = {"summary": summary, "tags": ["access"], "responses": _responses(200, ok, errors)}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    if security is not None:
        operation["security"] = security
    return {"post": operation}


PATHS = {
    "/slides": _get("list the store's slides, a page at a time", _json(
        "SlideList", "a page of slides; pass next_cursor as cursor for the next"),
        errors=(400, 401, 403, 501, 502, 503, 504), parameters=[
            _param("prefix", "query", {"type": "string"}, "only ids starting with this (a "
                   "prefix token lists its own prefix when none is given)"),
            _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000,
                                      "default": 100}),
            _param("cursor", "query", {"type": "string"}, "next_cursor of the previous page"),
            _param("delimiter", "query", {"enum": ["/"]}, "list one level: deeper ids roll up "
                   "into folder entries"),
            _param("q", "query", {"type": "string", "maxLength": 200}, "case-insensitive "
                   "substring of the id below prefix")]),
    "/slides/{slide_id}": _get("a slide's metadata and URLs", _json(
        "SlideMetadata", "levels, resolution, associated images and every URL of the slide"),
        parameters=[SLIDE_ID]),
    "/slides/{slide_id}/thumbnail": _get("a thumbnail fitting in max_size", _images(
        "the thumbnail"), parameters=[SLIDE_ID, _param(
            "max_size", "query", {"type": "integer", "minimum": 1, "default": 512},
            "at most WSI_MAX_THUMBNAIL_SIZE"), IMAGE_FORMAT, COLOR]),
    "/slides/{slide_id}/icc": _get("the slide's ICC profile as stored", {
        "description": "an ICC profile", "content": {"application/vnd.iccprofile": {
            "schema": {"type": "string", "format": "binary"}}}}, parameters=[SLIDE_ID]),
    "/slides/{slide_id}/associated/{name}": _get(
        "an associated image (label and macro only when WSI_SHOW_LABEL_AND_MACRO is on: they "
        "show patient identity)", _images("the image"),
        parameters=[SLIDE_ID, _param("name", "path", {"type": "string"},
                                     "thumbnail, label or macro"), IMAGE_FORMAT, COLOR]),
    "/tiles/{slide_id}/{level}/{col}/{row}.jpg": _get(
        "a stored tile of stored level `level` (0 = full resolution), edge tiles cropped",
        _images("the tile", ["image/jpeg"]), parameters=[SLIDE_ID, LEVEL, COL, ROW, COLOR]),
    "/dzi/{slide_id}.dzi": _get("the Deep Zoom descriptor", {
        "description": "DZI XML", "content": {"application/xml": {"schema": {"type": "string"}}}},
        parameters=[SLIDE_ID], tag="dzi"),
    "/dzi/{slide_id}_files/{level}/{col}_{row}.{fmt}": _get(
        "a Deep Zoom tile", _images("the tile"), errors=IMAGE_ERRORS, parameters=[
            SLIDE_ID, LEVEL, COL, ROW, _param("fmt", "path", OUTPUT_FORMATS), COLOR],
        tag="dzi"),
    **_iiif(3),
    "/iiif/3/{slide_id}/manifest.json": _get("a IIIF Presentation 3 manifest", _json(
        "Manifest", "one canvas with the slide's image service", "application/json"),
        parameters=[SLIDE_ID], tag="iiif"),
    **_iiif(2),
    "/": _get("the gallery: the store's slides and folders as a page", {
        "description": "an HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
        errors=(400, 401, 403, 501, 502, 503, 504), parameters=[
            _param("prefix", "query", {"type": "string"}, "the folder shown"),
            _param("q", "query", {"type": "string"}, "filter below the folder"),
            _param("cursor", "query", {"type": "string"}, "where the page starts")],
        tag="viewer"),
    "/view/{slide_id}": _get("the OpenSeadragon viewer page", {
        "description": "an HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
        parameters=[SLIDE_ID, COLOR], tag="viewer"),
    "/sign": _post("a signed token (and ready URLs) for a slide or a prefix", _json(
        "Token", "the token"), (400, 401, 403, 404), body=_ref("SignRequest"),
        security=[{"adminKey": []}]),
    "/renew": _post("a fresh token of the same scope for the presented one, never past the "
                    "viewing session's end", _json("Token", "the new token"), (401, 403, 404),
                    security=[{"bearerToken": []}, {"queryToken": []}]),
    "/healthz": _get("liveness", _json("Health", "the process answers"), errors=(),
                     public=True, tag="operations"),
    "/readyz": _get("readiness: the store and the shared cache answer", _json(
        "Readiness", "ready"), errors=(), public=True, tag="operations"),
    "/metrics": _get("Prometheus metrics", {"description": "Prometheus text format",
                                            "content": {"text/plain": {"schema": {
                                                "type": "string"}}}},
                     errors=(), public=True, tag="operations"),
    "/openapi.json": _get("this description", {"description": "OpenAPI 3.1", "content": {
        "application/json": {"schema": {"type": "object"}}}}, errors=(), public=True,
        tag="operations"),
}
PATHS["/readyz"]["get"]["responses"]["503"] = _json("Readiness", "not ready: `checks` says why")

DESCRIPTION = """\
Streams whole-slide images from object storage: a REST API, Deep Zoom, IIIF Image 3.0 and 2.1,
IIIF Presentation 3 manifests and a viewer page.

When access control is on (WSI_AUTH_SECRET), every route but the operations routes and /sign
needs a token, given as `Authorization: Bearer`, as `?token=`, or in the path: every route also
exists as `/t/{token}/...`, and URLs the server hands out then carry the token themselves.
Errors are JSON (the Error schema) with the status that says what went wrong.
"""


def document(server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "wsi_blueprint", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": server_url}],
        "security": [{}, {"bearerToken": []}, {"queryToken": []}],
        "tags": [{"name": name} for name in ("slides", "dzi", "iiif", "viewer", "access",
                                             "operations")],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "responses": {f"E{status}": _json("Error", text)
                          for status, text in ERRORS.items()},
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "a token from POST /sign"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
                "adminKey": {"type": "http", "scheme": "bearer",
                             "description": "standalone: WSI_SIGN_KEY (a host app guards /sign "
                                            "with its own login instead)"},
            },
        },
    }


def openapi():
    server = url_for(".openapi", _external=True).removesuffix("openapi.json")
    return jsonify(document(server))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/openapi.json", "openapi", openapi)
