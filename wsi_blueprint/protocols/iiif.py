"""IIIF Image API 3.0 and 2.1 (level 2) and a Presentation 3 manifest per slide.

One class serves one API version and owns its routes (`/iiif/3/...`, `/iiif/2/...`). Requests
are parsed by `iiif_request` into a request to the slide reader, which passes a stored tile
through or renders. info.json advertises the stored tile size and the stored levels' scale
factors and sizes, so a viewer's tile requests land on the passthrough path; a request that is
one of those tiles also tells the prefetcher the grid (`IiifTiling`), so that IIIF viewers get
tiles rendered ahead as DZI viewers do.
"""

import dataclasses
import functools

from flask import Blueprint, jsonify, redirect, request, url_for

from ..reader import COLOR, RAW, RegionRequest, tiles_meeting
from .color import requested_color
from .context import state
from .images import serve
from .iiif_request import FORMATS, QUALITIES, Limits, parse_request
from .rest import icc_summary

# The slide's ICC profile (description, size, colour space, URL), which neither Image API
# describes. The prefix keeps it clear of the unprefixed names IIIF reserves for its own terms;
# a JSON-LD context for it would need a stable public URL for its document, which a server
# mounted anywhere does not have, and viewers that do not know the key pass it by.
ICC_KEY = "wsi:iccProfile"

FEATURES = ["baseUriRedirect", "cors", "jsonldMediaType", "mirroring", "profileLinkHeader",
            "regionByPct", "regionByPx", "regionSquare", "rotationBy90s", "sizeByConfinedWh",
            "sizeByH", "sizeByPct", "sizeByW", "sizeByWh"]


def _scale_factors(width: int, height: int, tile: int) -> list[int]:
    factors = [1]
    while max(width, height) / factors[-1] > tile:
        factors.append(factors[-1] * 2)
    return factors


@dataclasses.dataclass(frozen=True)
class IiifTiling:
    """The tiles info.json advertises, as a IIIF viewer (Mirador's OpenSeadragon) asks for
    them: `x,y,w,h/w,h` with `w` and `h` the tile's level-0 size over the scale factor, rounded
    up (a `reader.Tiling`)."""

    width: int
    height: int
    tile_size: int
    fmt: str
    quality: int
    mode: str = COLOR
    color: str = RAW

    @property
    def scale_factors(self) -> list[int]:
        return _scale_factors(self.width, self.height, self.tile_size)

    def request(self, scale: int, t_col: int, t_row: int) -> RegionRequest:
        l0_span = self.tile_size * scale
        l0_x, l0_y = t_col * l0_span, t_row * l0_span
        l0_width, l0_height = min(l0_span, self.width - l0_x), min(l0_span, self.height - l0_y)
        return RegionRequest(l0_x, l0_y, l0_width, l0_height, -(-l0_width // scale),
                             -(-l0_height // scale), self.fmt, self.quality, mode=self.mode,
                             color=self.color)

    def requests(self, l0_x: float, l0_y: float, l0_width: float, l0_height: float,
                 scale: float) -> list[RegionRequest]:
        if scale not in self.scale_factors:
            return []
        l0_span = self.tile_size * scale
        t_cols, t_rows = -(-self.width // l0_span), -(-self.height // l0_span)
        return [self.request(int(scale), c, r)
                for c, r in tiles_meeting(l0_x, l0_y, l0_width, l0_height, l0_span, t_cols,
                                          t_rows)]

    def names(self, req: RegionRequest) -> bool:
        """Whether `req` is one of this grid's tiles."""
        for scale in self.scale_factors:
            l0_span = self.tile_size * scale
            if req.l0_x % l0_span == 0 and req.l0_y % l0_span == 0 and \
                    self.request(scale, req.l0_x // l0_span, req.l0_y // l0_span) == req:
                return True
        return False


def limits_of(settings) -> Limits:
    """The largest image the server makes, as the Image API states it."""
    return Limits(settings.max_output_width, settings.max_output_height,
                  settings.max_output_area)


def profile_uri(version: int) -> str:
    """The compliance level this server meets (level 2) in the Image API `version`."""
    return f"http://iiif.io/api/image/{version}/level2.json"


def profile_link(version: int) -> str:
    """The Link header naming the compliance level, on info.json and on every image."""
    return f'<{profile_uri(version)}>;rel="profile"'


def image_request(reader, region: str, size: str, rotation: str, quality: str, fmt: str,
                  version: int, settings, color: str) -> tuple[RegionRequest, IiifTiling | None]:
    """What an image URL asks for (`color` the mode asked), and the grid its tile belongs to
    if it is one of those info.json advertises. The route and direct_tiles.py both build it
    here."""
    info = reader.info()
    return _image_request(info.width, info.height, reader.tile_size, region, size, rotation,
                          quality, fmt, version, limits_of(settings), settings.jpeg_quality,
                          reader.color_for(color))


@functools.lru_cache(maxsize=4096)  # a tile asked for again, by any viewer
def _image_request(width: int, height: int, tile_size: int, region: str, size: str,
                   rotation: str, quality: str, fmt: str, version: int, limits: Limits,
                   jpeg_quality: int, color: str) -> tuple[RegionRequest, IiifTiling | None]:
    """`image_request` of a slide of that size and tile size, in the resolved colour mode:
    values, so one may be shared."""
    req = dataclasses.replace(
        parse_request(region, size, rotation, quality, fmt, width, height, version,
                      limits).region(jpeg_quality), color=color)
    tiling = IiifTiling(width, height, tile_size, req.format, req.quality, req.mode, req.color)
    return req, tiling if tiling.names(req) else None


class IIIFImageService:
    """The Image API of one version, mounted at `/iiif/<version>`."""

    def __init__(self, version: int):
        self.version = version
        self.context = f"http://iiif.io/api/image/{version}/context.json"
        self.profile = profile_uri(version)

    def endpoint(self, name: str) -> str:
        return f"iiif{self.version}_{name}"

    def register(self, bp: Blueprint) -> None:
        base = f"/iiif/{self.version}/<path:slide_id>"
        bp.add_url_rule(base, self.endpoint("base"), self.base)
        bp.add_url_rule(f"{base}/info.json", self.endpoint("info"), self.info)
        bp.add_url_rule(f"{base}/<region>/<size>/<rotation>/<quality>.<fmt>",
                        self.endpoint("image"), self.image)

    def base(self, slide_id: str):
        state().readers.open(slide_id)  # 404 for an unknown slide, not a redirect
        return redirect(url_for("." + self.endpoint("info"), slide_id=slide_id), 303)

    def info(self, slide_id: str):
        reader = state().readers.open(slide_id)
        index, limits = reader.info(), limits_of(state().settings)
        tile = reader.tile_size
        sizes = [{"width": level.width, "height": level.height}
                 for level in reversed(index.levels)
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
        icc = icc_summary(reader)
        if icc is not None:
            document[ICC_KEY] = icc
        response = jsonify(document)
        if request.accept_mimetypes.best == "application/ld+json" or \
                "application/ld+json" in request.headers.get("Accept", ""):
            response.mimetype = "application/ld+json"
            response.headers["Content-Type"] = \
                f'application/ld+json;profile="{self.context}"'
        response.headers["Link"] = profile_link(self.version)
        return response

    def image(self, slide_id: str, region: str, size: str, rotation: str, quality: str,
              fmt: str):
        reader = state().readers.open(slide_id)
        response = serve(reader, *image_request(reader, region, size, rotation, quality, fmt,
                                                self.version, state().settings,
                                                requested_color()))
        response.headers["Link"] = profile_link(self.version)
        return response


def manifest(slide_id: str):
    """A Presentation 3 manifest: one canvas painted with the slide's Image API 3 service."""
    index = state().readers.open(slide_id).info()
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
