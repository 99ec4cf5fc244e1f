"""IIIF Image API 3.0 and 2.1 (level 2) and a Presentation 3 manifest per slide.

One class serves one API version and owns its routes (`/iiif/3/...`, `/iiif/2/...`). Requests
are parsed by `iiif_request`; an unrotated colour JPEG request that is exactly a stored tile
passes through, everything else is cut from the best level, resampled, rotated and encoded.
info.json advertises the stored tile size and the stored levels' scale factors and sizes, so a
viewer's tile requests land on the passthrough path.
"""

import numpy as np
from flask import Blueprint, Response, jsonify, redirect, request, url_for

from ..formats.slide import Slide
from ..imaging.encode import encode
from ..imaging.passthrough import native_tile_jpeg
from ..imaging.region import read_region
from .context import state
from .images import image_key, image_response, note_view
from .iiif_request import FORMATS, QUALITIES, ImageRequest, Limits, parse_request
from .native_tiles import default_tile_size, find_native_tile

FEATURES = ["baseUriRedirect", "cors", "jsonldMediaType", "mirroring", "profileLinkHeader",
            "regionByPct", "regionByPx", "regionSquare", "rotationBy90s", "sizeByConfinedWh",
            "sizeByH", "sizeByPct", "sizeByW", "sizeByWh"]


def render(slide: Slide, req: ImageRequest, quality: int) -> bytes:
    if req.is_plain:
        native = find_native_tile(slide, req.x, req.y, req.width, req.height,
                                  req.out_width, req.out_height)
        if native is not None:
            level, col, row = native
            return native_tile_jpeg(slide.read_tiles(level, [(col, row)])[0], quality)
    return read_region(slide, req.x, req.y, req.width, req.height, req.out_width,
                       req.out_height,
                       finish=lambda pixels: rotate_and_encode(pixels, req, quality))


def rotate_and_encode(pixels: np.ndarray, req: ImageRequest, quality: int) -> bytes:
    """Mirror, rotate, apply the quality and encode: the CPU tail of a IIIF request."""
    if req.mirror:
        pixels = pixels[:, ::-1]
    if req.rotation:
        pixels = np.rot90(pixels, k=-req.rotation // 90)
    if req.quality in ("gray", "bitonal"):
        gray = pixels[..., :3] @ np.array([0.299, 0.587, 0.114])
        pixels = np.where(gray > 127, 255, 0) if req.quality == "bitonal" else gray.round()
        pixels = pixels.astype(np.uint8)
    return encode(np.ascontiguousarray(pixels), req.format, quality)


def _scale_factors(width: int, height: int, tile: int) -> list[int]:
    factors = [1]
    while max(width, height) / factors[-1] > tile:
        factors.append(factors[-1] * 2)
    return factors


class IIIFImageService:
    """The Image API of one version, mounted at `/iiif/<version>`."""

    def __init__(self, version: int):
        self.version = version
        self.context = f"http://iiif.io/api/image/{version}/context.json"
        self.profile = f"http://iiif.io/api/image/{version}/level2.json"

    def endpoint(self, name: str) -> str:
        return f"iiif{self.version}_{name}"

    def register(self, bp: Blueprint) -> None:
        base = f"/iiif/{self.version}/<path:slide_id>"
        bp.add_url_rule(base, self.endpoint("base"), self.base)
        bp.add_url_rule(f"{base}/info.json", self.endpoint("info"), self.info)
        bp.add_url_rule(f"{base}/<region>/<size>/<rotation>/<quality>.<fmt>",
                        self.endpoint("image"), self.image)

    @staticmethod
    def limits() -> Limits:
        settings = state().settings
        return Limits(settings.max_output_width, settings.max_output_height,
                      settings.max_output_area)

    def base(self, slide_id: str):
        state().library.open(slide_id)  # 404 for an unknown slide, not a redirect
        return redirect(url_for("." + self.endpoint("info"), slide_id=slide_id), 303)

    def info(self, slide_id: str):
        slide = state().library.open(slide_id)
        index, limits = slide.index, self.limits()
        tile = default_tile_size(slide)
        sizes = [{"width": level.width, "height": level.height}
                 for level in reversed(slide.levels)
                 if level.width <= limits.max_width and level.height <= limits.max_height
                 and level.width * level.height <= limits.max_area]
        tiles = [{"width": tile, "height": tile,
                  "scaleFactors": _scale_factors(index.width, index.height, tile)}]
        service_id = url_for("." + self.endpoint("base"), slide_id=slide_id, _external=True)
        if self.version == 3:
            document = {
                "@context": self.context, "id": service_id, "type": "ImageService3",
                "protocol": "http://iiif.io/api/image", "profile": "level2",
                "width": index.width, "height": index.height,
                "maxWidth": limits.max_width, "maxHeight": limits.max_height,
                "maxArea": limits.max_area, "sizes": sizes, "tiles": tiles,
                "extraQualities": ["color", "gray", "bitonal"],
                "extraFormats": ["webp"],
                "extraFeatures": FEATURES + ["sizeUpscaling"],
            }
        else:
            document = {
                "@context": self.context, "@id": service_id,
                "protocol": "http://iiif.io/api/image",
                "width": index.width, "height": index.height, "sizes": sizes, "tiles": tiles,
                "profile": [self.profile, {
                    "formats": list(FORMATS), "qualities": list(QUALITIES),
                    "supports": FEATURES + ["sizeAboveFull"],
                    "maxWidth": limits.max_width, "maxHeight": limits.max_height,
                    "maxArea": limits.max_area}],
            }
        response = jsonify(document)
        if request.accept_mimetypes.best == "application/ld+json" or \
                "application/ld+json" in request.headers.get("Accept", ""):
            response.mimetype = "application/ld+json"
            response.headers["Content-Type"] = \
                f'application/ld+json;profile="{self.context}"'
        response.headers["Link"] = f'<{self.profile}>;rel="profile"'
        return response

    def image(self, slide_id: str, region: str, size: str, rotation: str, quality: str,
              fmt: str):
        limits, jpeg_quality = self.limits(), state().settings.jpeg_quality

        def work(slide: Slide) -> Response:
            req = parse_request(region, size, rotation, quality, fmt, slide.index.width,
                                slide.index.height, self.version, limits)
            note_view(slide, slide_id, req.x, req.y, req.width, req.height,
                      req.width / req.out_width)
            key = image_key(slide, "iiif", req.x, req.y, req.width, req.height, req.out_width,
                            req.out_height, req.rotation, req.mirror, req.quality, req.format,
                            jpeg_quality)
            response = image_response(key, req.format,
                                      lambda: render(slide, req, jpeg_quality))
            response.headers["Link"] = f'<{self.profile}>;rel="profile"'
            return response

        return state().library.run(slide_id, work)


def manifest(slide_id: str):
    """A Presentation 3 manifest: one canvas painted with the slide's Image API 3 service."""
    index = state().library.open(slide_id).index
    manifest_id = url_for(".iiif3_manifest", slide_id=slide_id, _external=True)
    service_id = url_for(".iiif3_base", slide_id=slide_id, _external=True)
    canvas_id = f"{manifest_id}/canvas/1"
    smallest = index.levels[-1]
    metadata = [("Format", index.format)]
    if index.mpp:
        metadata.append(("Microns per pixel", f"{index.mpp[0]:.4f}"))
    if index.objective_power:
        metadata.append(("Objective power", f"{index.objective_power:g}"))
    return jsonify({
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": manifest_id, "type": "Manifest",
        "label": {"none": [slide_id]},
        "metadata": [{"label": {"en": [k]}, "value": {"none": [v]}} for k, v in metadata],
        "items": [{
            "id": canvas_id, "type": "Canvas", "width": index.width, "height": index.height,
            "items": [{
                "id": f"{canvas_id}/page/1", "type": "AnnotationPage",
                "items": [{
                    "id": f"{canvas_id}/page/1/image", "type": "Annotation",
                    "motivation": "painting", "target": canvas_id,
                    "body": {
                        "id": f"{service_id}/full/{smallest.width},{smallest.height}/0/default.jpg",
                        "type": "Image", "format": "image/jpeg",
                        "width": smallest.width, "height": smallest.height,
                        "service": [{"id": service_id, "type": "ImageService3",
                                     "profile": "level2"}],
                    },
                }],
            }],
        }],
    })


def register(bp: Blueprint) -> None:
    # The manifest rule goes first so that "<id>/manifest.json" is never read as an image id.
    bp.add_url_rule("/iiif/3/<path:slide_id>/manifest.json", "iiif3_manifest", manifest)
    IIIFImageService(3).register(bp)
    IIIFImageService(2).register(bp)
