"""Colour management: a slide's ICC profile applied to its pixels, or attached to its images.

Three modes, chosen per request:

- `srgb`: decoded pixels converted to sRGB by LittleCMS (Pillow's ImageCms), perceptual intent,
  in the CPU pool; every client then shows the scanner's colours, at the cost of decoding
  tiles that could have passed through.
- `embed`: pixels as stored, the profile attached to the image (`icc_embed`); stored JPEG tiles
  still pass through undecoded and colour-managed clients (browsers) convert them.
- `raw`: pixels as stored, no profile.

`auto` embeds profiles of at most `EMBED_LIMIT` bytes and converts with larger ones: a
profile rides on every tile, and a scanner's 1.6 MB profile would be many times the tile
(measurements: docs/formats.md). A slide without a usable profile (none, or not an RGB one)
serves every mode as `raw`, and so do `srgb` and `auto` where the profile is sRGB in effect
(`Profile.is_srgb`): converting would change nothing, and the stored tiles pass through.

Transforms and embeddings are built once per profile and kept per worker (`Profiles`).
"""

import collections
import functools
import io
import threading
from typing import Callable

import numpy as np
from PIL import Image, ImageCms

from ..errors import BadRequest, CorruptSlide
from . import icc_embed

SRGB, EMBED, RAW, AUTO = "srgb", "embed", "raw", "auto"
MODES = (AUTO, SRGB, EMBED, RAW)
# Matrix/TRC profiles (sRGB's, most scanners') are a few KB and ride along; LUT profiles (tens
# of KB to megabytes) are converted: per tile, 16 KB on a 100 Mbit/s link is ~1.3 ms, below a
# conversion's CPU.
EMBED_LIMIT = 16 * 1024

_SRGB_PROFILE = ImageCms.createProfile("sRGB")
_PERCEPTUAL = ImageCms.Intent.PERCEPTUAL
Image.preinit()
# Every colour of a 18 x 18 x 18 grid (0, 15, ... 255 per channel), as a one-pixel-wide image.
_GRID = np.stack(np.meshgrid(*[np.arange(0, 256, 15, dtype=np.uint8)] * 3, indexing="ij"),
                 axis=-1).reshape(-1, 1, 3)
_SRGB_TOLERANCE = 1  # of 255: LittleCMS's rounding, converting sRGB to itself


def color_mode(name: str) -> str:
    """A requested mode by name; 400 for unknown ones."""
    mode = name.strip().lower()
    if mode not in MODES:
        raise BadRequest(f"color must be one of {', '.join(MODES)}, not {name!r}")
    return mode


def resolve(mode: str, size: int | None, color_space: str | None,
            is_srgb: bool = False) -> str:
    """The mode a request is served in for a profile of `size` bytes (None: no profile)."""
    if size is None or color_space != "RGB" or (is_srgb and mode in (AUTO, SRGB)):
        return RAW
    if mode == AUTO:
        return EMBED if size <= EMBED_LIMIT else SRGB
    return mode


def needs_pixels_check(mode: str, size: int | None, color_space: str | None) -> bool:
    """Whether resolving `mode` depends on `Profile.is_srgb`."""
    return size is not None and color_space == "RGB" and mode in (AUTO, SRGB)


class Profile:
    """One profile's bytes and what is built from them, each on first use."""

    def __init__(self, data: bytes):
        self.data = data
        self._transform: ImageCms.ImageCmsTransform | None = None
        self._embedding: icc_embed.Embedding | None = None
        self._is_srgb: bool | None = None

    @property
    def checked(self) -> bool:
        return self._is_srgb is not None

    def is_srgb(self) -> bool:
        """Whether converting to sRGB moves no colour of a grid by more than 1 of 255: sRGB in
        effect, whatever its name (CPU work: run in the pool the first time)."""
        if self._is_srgb is None:
            moved = np.abs(self.to_srgb(_GRID).astype(int) - _GRID)
            self._is_srgb = bool(moved.max() <= _SRGB_TOLERANCE)
        return self._is_srgb

    def transform(self) -> ImageCms.ImageCmsTransform:
        """RGB -> sRGB, perceptual intent (colorimetric where the profile has no such table)."""
        if self._transform is None:
            try:
                source = ImageCms.ImageCmsProfile(io.BytesIO(self.data))
                self._transform = ImageCms.buildTransform(source, _SRGB_PROFILE, "RGB", "RGB",
                                                          renderingIntent=_PERCEPTUAL)
            except (ImageCms.PyCMSError, OSError, ValueError) as exc:
                raise CorruptSlide(f"the slide's ICC profile cannot be applied: {exc}") from None
        return self._transform

    def embedding(self) -> icc_embed.Embedding:
        if self._embedding is None:
            self._embedding = icc_embed.Embedding(self.data)
        return self._embedding

    def to_srgb(self, pixels: np.ndarray) -> np.ndarray:
        """(h, w, 3) uint8 pixels converted to sRGB."""
        image = Image.fromarray(np.ascontiguousarray(pixels))
        return np.asarray(self.transform().apply(image))

    def converting(self, finish: Callable[[np.ndarray], bytes]) -> Callable[[np.ndarray], bytes]:
        """`finish` (orient, encode) of the pixels converted to sRGB."""
        return functools.partial(_convert, self, finish)

    def embedding_after(self, finish: Callable[[np.ndarray], bytes], fmt: str
                        ) -> Callable[[np.ndarray], bytes]:
        """`finish` (orient, encode to `fmt`), the profile attached to the image."""
        return functools.partial(_embed, self.embedding(), finish, fmt)


# Named functions, not lambdas: a pool job is named after its function in Server-Timing.
def _convert(profile: Profile, finish: Callable, pixels: np.ndarray) -> bytes:
    return finish(profile.to_srgb(pixels))


def _embed(embedding: icc_embed.Embedding, finish: Callable, fmt: str,
                 pixels: np.ndarray) -> bytes:
    return embedding.attach(finish(pixels), fmt)


class Profiles:
    """A worker's profiles by key (the slide's version and the profile's place), the most
    recently used `capacity` of them: a scanner's profile is megabytes and its transform a
    large table, and a viewer's slides are a handful at a time."""

    def __init__(self, capacity: int = 8):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._profiles: collections.OrderedDict[str, Profile] = collections.OrderedDict()

    def get(self, key: str, read: Callable[[], bytes]) -> Profile:
        with self._lock:
            profile = self._profiles.get(key)
            if profile is not None:
                self._profiles.move_to_end(key)
                return profile
        profile = Profile(read())
        with self._lock:
            profile = self._profiles.setdefault(key, profile)
            while len(self._profiles) > self.capacity:
                self._profiles.popitem(last=False)
        return profile


PROFILES = Profiles()  # per worker process: each builds its own transforms
