"""What a protocol asks a reader for: values that know their own cache key.

A request names every parameter that shapes its bytes, so the key built from it is the tile
cache key and, hashed, the HTTP ETag: no handler lists those parameters by hand. Two protocols
asking for the same pixels (a DZI tile and the IIIF tile on the same grid) build equal requests
and so share one cached image.
"""

import dataclasses
import functools

from ..imaging.color import RAW

COLOR = "color"  # the colour mode a stored tile may answer; the others: "gray", "bitonal"


@dataclasses.dataclass(frozen=True)
class View:
    """A level-0 rectangle and the scale it was shown at (level-0 pixels per screen pixel):
    what the prefetcher learns a viewer's motion from."""

    l0_x: float
    l0_y: float
    l0_width: float
    l0_height: float
    scale: float


@dataclasses.dataclass(frozen=True)
class RegionRequest:
    """A level-0 rectangle at an output size, oriented, in a colour mode and a format."""

    l0_x: int
    l0_y: int
    l0_width: int
    l0_height: int
    out_width: int
    out_height: int
    format: str               # 'jpeg', 'png', 'webp'
    quality: int              # encoder quality
    rotation: int = 0         # clockwise, 0/90/180/270
    mirror: bool = False      # flipped horizontally before rotating
    mode: str = COLOR         # color, gray or bitonal
    color: str = RAW          # colour management: srgb, embed or raw (imaging.color)
    # Where the viewer shows it when that is not the rectangle at its output scale (a DZI
    # tile at the slide's edge spans its whole level tile); not part of the image.
    shown: View | None = dataclasses.field(default=None, compare=False)

    @property
    def is_plain(self) -> bool:
        """Unrotated colour JPEG: a stored tile may answer it as it is."""
        return (self.rotation == 0 and not self.mirror and self.format == "jpeg"
                and self.mode == COLOR)

    @functools.cached_property  # frozen: built once however often a cached tile is asked
    def key(self) -> str:
        return "|".join(map(str, (
            "region", self.l0_x, self.l0_y, self.l0_width, self.l0_height, self.out_width,
            self.out_height, self.rotation, self.mirror, self.mode, self.format, self.quality,
            self.color)))

    @property
    def view(self) -> View:
        return self.shown or View(self.l0_x, self.l0_y, self.l0_width, self.l0_height,
                                  self.l0_width / self.out_width)


@dataclasses.dataclass(frozen=True)
class StoredTileRequest:
    """One stored tile of a stored level, as JPEG (edge tiles cropped)."""

    l_level: int
    t_col: int
    t_row: int
    quality: int
    view: View | None = None  # where it lies in level-0 pixels (the reader fills it in)
    format: str = "jpeg"
    color: str = RAW

    @property
    def key(self) -> str:
        return f"tile|{self.l_level}|{self.t_col}|{self.t_row}|{self.quality}|{self.color}"


@dataclasses.dataclass(frozen=True)
class ThumbnailRequest:
    """The whole slide fitting in max_size x max_size."""

    max_size: int
    format: str
    quality: int
    color: str = RAW
    view = None  # not a viewer's motion

    @property
    def key(self) -> str:
        return f"thumbnail|{self.max_size}|{self.format}|{self.quality}|{self.color}"


@dataclasses.dataclass(frozen=True)
class AssociatedRequest:
    """An associated image (label, macro, thumbnail) whole."""

    name: str
    format: str
    quality: int
    color: str = RAW          # with the image's own profile
    view = None

    @property
    def key(self) -> str:
        return f"associated|{self.name}|{self.format}|{self.quality}|{self.color}"


ImageRequest = RegionRequest | StoredTileRequest | ThumbnailRequest | AssociatedRequest
