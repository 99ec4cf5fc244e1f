"""Where each stored image of an MRXS slide goes, computed as OpenSlide's MIRAX reader does.

The camera takes photos at measured, overlapping positions and cuts each into `divisions`
x `divisions` images placed edge to edge: those are level 0. Each coarser level halves the
images and puts 2^k x 2^k of them side by side in one stored image. Once a stored image spans
several photos, its parts no longer line up (the photos overlapped), so the image is cut into
one piece per photo and each piece is placed at its photo's position. A piece is a `Tile`:
which image, which part of it, and where it goes in level pixels.

OpenSlide paints the pieces of a level from the last grid row and column to the first, each
only where nothing is painted yet (cairo's SATURATE operator), so where pieces overlap the one
later in row-major order shows: listed in that order, each painted over the ones before, they
give the same pixels.
"""

import dataclasses
import math
from collections.abc import Sequence

from ..errors import CorruptSlide
from .mrxs_index import Record
from .mrxs_slidedat import Slidedat


# Pieces over all levels a slide may make: each photo once per level, and a margin.
MAX_PIECES = 1 << 24


@dataclasses.dataclass(frozen=True)
class Tile:
    record: Record
    part: tuple[int, int]         # which piece of its stored image, across and down
    position: tuple[int, int]     # where it goes, in level pixels (rounded)


@dataclasses.dataclass(frozen=True)
class LevelLayout:
    size: tuple[int, int]         # level width, height
    downsample: float
    piece: tuple[int, int]        # size of every piece (the whole image below the cut)
    parts_per_side: int           # pieces an image is cut into, across and down
    tiles: tuple[Tile, ...]       # in paint order: row-major in OpenSlide's grid


def base_size(slidedat: Slidedat) -> tuple[int, int]:
    """Level 0's size in its images' pixels: the images, less the nominal overlap wherever
    one photo ends and the next begins (truncated at each step, as OpenSlide adds them)."""
    level = slidedat.levels[0]
    size = []
    for count, image, overlap in zip(slidedat.images, level.image_size, level.overlap):
        total = 0
        for i in range(count):
            last_of_photo = i % slidedat.divisions == slidedat.divisions - 1
            total = int(total + (image - overlap if last_of_photo and i != count - 1
                                 else image))
        size.append(total)
    return size[0], size[1]


class NominalPositions(Sequence):
    """Photo positions when the slide records none: on a grid, less the nominal overlap
    (computed when asked: a slide may have millions of photos)."""

    def __init__(self, slidedat: Slidedat):
        level = slidedat.levels[0]
        self.across = slidedat.images[0] // slidedat.divisions
        self.count = photo_count(slidedat)
        self.step = [int(image * slidedat.divisions - overlap)
                     for image, overlap in zip(level.image_size, level.overlap)]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, photo):
        if not 0 <= photo < self.count:
            raise IndexError(photo)
        return photo % self.across * self.step[0], photo // self.across * self.step[1]


def photo_count(slidedat: Slidedat) -> int:
    return (slidedat.images[0] // slidedat.divisions) * (slidedat.images[1] // slidedat.divisions)


class _Geometry:
    """Per level: how many images one stored image concatenates and how it is cut."""

    def __init__(self, slidedat: Slidedat, measured: bool):
        self.slidedat = slidedat
        exponent, self.concat = 0, []
        for level in slidedat.levels:
            exponent += level.concat_exponent
            if exponent > 30:
                raise CorruptSlide(f"MRXS image concatenation 2^{exponent} is too large")
            self.concat.append(1 << exponent)
        divisions = slidedat.divisions
        # With positions or overlaps each photo's piece is placed on its own; without, an
        # image stays whole and stands for all the photos it spans.
        self.cut = measured or any(slidedat.levels[0].overlap)
        self.tiles_per_image = [max(1, c // divisions) if self.cut else 1 for c in self.concat]
        self.positions_per_tile = [1 if self.cut else max(1, c // divisions)
                                   for c in self.concat]
        self.count_divisor = [min(c, divisions) if self.cut else c for c in self.concat]


class _Placer:
    """Places the pieces of each level in turn (level 0 first: it says which photos were
    taken, and coarser levels place only pieces of those)."""

    def __init__(self, slidedat: Slidedat, positions: Sequence[tuple[int, int]],
                 measured: bool):
        self.slidedat = slidedat
        self.positions = positions
        self.geometry = _Geometry(slidedat, measured)
        self.photos_across = slidedat.images[0] // slidedat.divisions
        self.taken: set[int] = set()
        self.budget = MAX_PIECES
        self.base = base_size(slidedat)

    def position(self, z: int, xx: int, yy: int) -> tuple[int, int] | None:
        """The level-0 position of level-0 image (xx, yy), or None where level `z` places
        nothing for it (its photo was never taken)."""
        divisions, across = self.slidedat.divisions, self.photos_across
        xp, yp = xx // divisions, yy // divisions
        photo = yp * across + xp
        if photo >= len(self.positions):
            raise CorruptSlide(f"MRXS image {xx},{yy} has no camera position")
        if z == 0:
            # Photos never taken are recorded at 0, 0: only the first may be there.
            if self.positions[photo] == (0, 0) and (xp or yp):
                return None
            self.taken.add(photo)
        else:
            span = range(self.geometry.positions_per_tile[z])
            if not any((yp + j) * across + xp + i in self.taken for j in span for i in span):
                return None
        image = self.slidedat.levels[0].image_size
        return (self.positions[photo][0] + image[0] * (xx - xp * divisions),
                self.positions[photo][1] + image[1] * (yy - yp * divisions))

    def level(self, z: int, records: list[tuple[int, Record]]) -> LevelLayout:
        across, down = self.slidedat.images
        divisions = self.slidedat.divisions
        concat, divisor = self.geometry.concat[z], self.geometry.count_divisor[z]
        per_image = self.geometry.tiles_per_image[z]
        placed: dict[tuple[int, int], Tile] = {}  # by OpenSlide's grid cell: the last wins
        for index, record in records:
            x, y = index % across, index // across
            if y >= down:
                raise CorruptSlide(f"MRXS image {index} of level {z} lies below the slide")
            if x % concat or y % concat:
                raise CorruptSlide(f"MRXS image {index} of level {z} is not at a multiple "
                                   f"of {concat}")
            for yi in range(min(per_image, -(-(down - y) // divisions))):
                for xi in range(min(per_image, -(-(across - x) // divisions))):
                    self.budget -= 1
                    if self.budget < 0:
                        raise CorruptSlide(f"the MRXS index makes more than {MAX_PIECES} "
                                           "pieces of its images")
                    l0 = self.position(z, x + xi * divisions, y + yi * divisions)
                    if l0 is not None:
                        placed[(x // divisor + xi, y // divisor + yi)] = Tile(
                            record, (xi, yi), (round(l0[0] / concat), round(l0[1] / concat)))
        image = self.slidedat.levels[z].image_size
        return LevelLayout(
            size=(self.base[0] // concat, self.base[1] // concat),
            downsample=concat / self.geometry.concat[0],
            piece=(math.ceil(image[0] / per_image), math.ceil(image[1] / per_image)),
            parts_per_side=per_image,
            tiles=tuple(placed[key] for key in sorted(placed, key=lambda k: (k[1], k[0]))))


def layout(slidedat: Slidedat, positions: Sequence[tuple[int, int]], measured: bool,
           records: list[list[tuple[int, Record]]]) -> list[LevelLayout]:
    """Every level's pieces, from the photo positions (level-0 pixels) and each level's
    (image index, record) list."""
    placer = _Placer(slidedat, positions, measured)
    return [placer.level(z, level_records) for z, level_records in enumerate(records)]
