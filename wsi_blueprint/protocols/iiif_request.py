"""The IIIF Image API request grammar: region / size / rotation / quality . format.

Parsing is pure: path parts and the image size in, a fully resolved `ImageRequest` out (a
level-0 rectangle, an output size, a rotation, a quality, a format), or `BadRequest`; its
`region()` is the request to a slide reader. Versions
differ only in size: 3.0 upscales only with `^`, 2.1 always may and knows `full`.
"""

import dataclasses
import math
import re

from ..errors import BadRequest, TooLarge
from ..reader import COLOR, RegionRequest

QUALITIES = ("default", "color", "gray", "bitonal")
FORMATS = {"jpg": "jpeg", "png": "png", "webp": "webp"}
_NUMBER = r"\d+(?:\.\d+)?"
_PCT_REGION = re.compile(rf"pct:({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})")
_PX_REGION = re.compile(r"(\d+),(\d+),(\d+),(\d+)")
_SIZE = re.compile(r"(\^)?(?:(max|full)|pct:(" + _NUMBER + r")|(!)?(\d+)?,(\d+)?)")
_ROTATION = re.compile(rf"(!)?({_NUMBER})")


@dataclasses.dataclass(frozen=True)
class Limits:
    max_width: int
    max_height: int
    max_area: int


@dataclasses.dataclass(frozen=True)
class ImageRequest:
    x: int
    y: int
    width: int
    height: int
    out_width: int
    out_height: int
    rotation: int      # clockwise, 0/90/180/270
    mirror: bool       # flipped horizontally before rotating
    quality: str
    format: str        # 'jpeg', 'png', 'webp'

    def region(self, jpeg_quality: int) -> RegionRequest:
        """The request to a slide reader."""
        return RegionRequest(self.x, self.y, self.width, self.height, self.out_width,
                             self.out_height, self.format, jpeg_quality, self.rotation,
                             self.mirror, COLOR if self.quality in ("default", "color")
                             else self.quality)

    @property
    def is_plain(self) -> bool:
        """Unrotated colour JPEG: a stored tile may answer it as it is."""
        return self.region(0).is_plain


def parse_region(text: str, width: int, height: int) -> tuple[int, int, int, int]:
    if text == "full":
        return 0, 0, width, height
    if text == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    if match := _PCT_REGION.fullmatch(text):
        px, py, pw, ph = (float(g) for g in match.groups())
        x, y = round(px * width / 100), round(py * height / 100)
        w, h = round(pw * width / 100), round(ph * height / 100)
    elif match := _PX_REGION.fullmatch(text):
        x, y, w, h = (int(g) for g in match.groups())
    else:
        raise BadRequest(f"invalid region {text!r}")
    if w <= 0 or h <= 0:
        raise BadRequest("the region has no area")
    if x >= width or y >= height:
        raise BadRequest("the region lies outside the image")
    return x, y, min(w, width - x), min(h, height - y)


def parse_size(text: str, region_w: int, region_h: int, version: int,
               limits: Limits) -> tuple[int, int]:
    match = _SIZE.fullmatch(text)
    if not match:
        raise BadRequest(f"invalid size {text!r}")
    upscale, keyword, pct, confined, w_text, h_text = match.groups()
    if version == 3 and keyword == "full":
        raise BadRequest("size 'full' is not part of IIIF Image API 3.0; use 'max'")
    if version == 2 and upscale:
        raise BadRequest("'^' is not part of IIIF Image API 2.1")
    may_upscale = bool(upscale) or version == 2
    if keyword:
        return _fit_max(region_w, region_h, limits, may_upscale)
    if pct is not None:
        scale = float(pct) / 100
        w, h = round(region_w * scale), round(region_h * scale)
    elif confined:
        if not (w_text and h_text):
            raise BadRequest("'!w,h' needs both a width and a height")
        scale = min(int(w_text) / region_w, int(h_text) / region_h)
        w, h = round(region_w * scale), round(region_h * scale)
    elif w_text and h_text:
        w, h = int(w_text), int(h_text)
    elif w_text:
        w = int(w_text)
        h = round(region_h * w / region_w)
    elif h_text:
        h = int(h_text)
        w = round(region_w * h / region_h)
    else:
        raise BadRequest(f"invalid size {text!r}")
    if w <= 0 or h <= 0:
        raise BadRequest("the requested size has no area")
    if (w > region_w or h > region_h) and not may_upscale:
        raise BadRequest("upscaling needs the '^' prefix in IIIF Image API 3.0")
    if w > limits.max_width or h > limits.max_height or w * h > limits.max_area:
        raise TooLarge(f"{w}x{h} is larger than this server returns "
                       f"(maxWidth {limits.max_width}, maxHeight {limits.max_height}, "
                       f"maxArea {limits.max_area})")
    return w, h


def _fit_max(region_w: int, region_h: int, limits: Limits, may_upscale: bool) -> tuple[int, int]:
    """'max': the region's size, shrunk (keeping its shape) to fit the server's limits."""
    scale = min(1.0, limits.max_width / region_w, limits.max_height / region_h,
                math.sqrt(limits.max_area / (region_w * region_h)))
    return max(1, math.floor(region_w * scale)), max(1, math.floor(region_h * scale))


def parse_rotation(text: str) -> tuple[int, bool]:
    match = _ROTATION.fullmatch(text)
    if not match:
        raise BadRequest(f"invalid rotation {text!r}")
    degrees = float(match.group(2))
    if degrees > 360 or degrees % 90:
        raise BadRequest("rotation must be 0, 90, 180 or 270 degrees")
    return int(degrees) % 360, bool(match.group(1))


def parse_quality_format(quality: str, fmt: str) -> tuple[str, str]:
    if quality not in QUALITIES:
        raise BadRequest(f"invalid quality {quality!r}; use one of {', '.join(QUALITIES)}")
    if fmt not in FORMATS:
        raise BadRequest(f"format {fmt!r} is not supported; use jpg, png or webp")
    return quality, FORMATS[fmt]


def parse_request(region: str, size: str, rotation: str, quality: str, fmt: str,
                  width: int, height: int, version: int, limits: Limits) -> ImageRequest:
    x, y, w, h = parse_region(region, width, height)
    out_w, out_h = parse_size(size, w, h, version, limits)
    degrees, mirror = parse_rotation(rotation)
    quality, fmt = parse_quality_format(quality, fmt)
    return ImageRequest(x, y, w, h, out_w, out_h, degrees, mirror, quality, fmt)
