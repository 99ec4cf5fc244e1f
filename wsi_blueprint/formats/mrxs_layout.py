"""Where each stored image of an MRXS slide goes, computed as OpenSlide's MIRAX reader does.

The camera takes photos at measured, overlapping positions and cuts each into `divisions`
x `divisions` images placed edge to edge: those are level 0. Each coarser level halves the
images and puts 2^k x 2^k of them side by side in one stored image. Once a stored image spans
several photos, its parts no longer line up (the photos overlapped), so the image is cut into
one piece per photo and each piece is placed at its photo's position. A piece is which
image, which part of it, and where it goes in level pixels.

OpenSlide paints the pieces of a level from the last grid row and column to the first, each
only where nothing is painted yet (cairo's SATURATE operator), so where pieces overlap the one
later in row-major order shows: listed in that order, each painted over the ones before, they
give the same pixels.
"""

import dataclasses
import math
from collections.abc import Sequence

import numpy

from ..errors import CorruptSlide
from .mrxs_index import LevelRecords
from .mrxs_slidedat import Slidedat


# Pieces over all levels a slide may make: each photo once per level, and a margin.
MAX_PIECES = 1 << 24


@dataclasses.dataclass(frozen=True)
class LevelLayout:
    """A level's pieces, in paint order (row-major in OpenSlide's grid), as arrays."""

    size: tuple[int, int]         # level width, height
    downsample: float
    piece: tuple[int, int]        # size of every piece (the whole image below the cut)
    parts_per_side: int           # pieces an image is cut into, across and down
    records: numpy.ndarray        # per piece: which of the level's records holds its image
    parts: numpy.ndarray          # per piece: which part of the image, row-major
    positions: numpy.ndarray      # per piece: x, y in level pixels (rounded)


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

    def at(self, photos: numpy.ndarray) -> numpy.ndarray:
        """The positions of many photos, (n, 2)."""
        return numpy.stack([photos % self.across * self.step[0],
                            photos // self.across * self.step[1]], axis=-1)


def photo_count(slidedat: Slidedat) -> int:
    return (slidedat.images[0] // slidedat.divisions) * (slidedat.images[1] // slidedat.divisions)


class _Geometry:
    """Per level: how many images one stored image concatenates and how it is cut."""

    def __init__(self, slidedat: Slidedat, measured: bool):
        self.slidedat = slidedat
        exponent, self.concat = 0, []
        for level in slidedat.levels:  # their sum is bounded (mrxs_slidedat)
            exponent += level.concat_exponent
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
    """Places the pieces of each level in turn, all of a level's at once (a slide may store
    hundreds of thousands of images). Level 0 goes first: it says which photos were taken,
    and coarser levels place only pieces of those."""

    def __init__(self, slidedat: Slidedat, positions: Sequence[tuple[int, int]],
                 measured: bool):
        self.slidedat = slidedat
        self.count = len(positions)
        self.positions = (positions if isinstance(positions, NominalPositions)
                          else numpy.array(positions, numpy.int64).reshape(-1, 2))
        self.geometry = _Geometry(slidedat, measured)
        self.photos_across = slidedat.images[0] // slidedat.divisions
        self.taken = numpy.zeros(0, numpy.int64)  # sorted numbers of the photos taken
        self.budget = MAX_PIECES
        self.base = base_size(slidedat)
        if min(self.base) < 1:
            raise CorruptSlide(f"the MRXS slide's images and overlaps make it {self.base[0]} x "
                               f"{self.base[1]} pixels")

    def _positions_of(self, photos: numpy.ndarray) -> numpy.ndarray:
        if isinstance(self.positions, NominalPositions):
            return self.positions.at(photos)
        return self.positions[photos]

    def _placed(self, z: int, xp: numpy.ndarray, yp: numpy.ndarray,
                photo: numpy.ndarray) -> numpy.ndarray:
        """Which candidate pieces level `z` places (OpenSlide's get_tile_position): on level
        0 those of photos taken (photos never taken are recorded at 0, 0: only the first may
        be there); on coarser ones those meeting a photo taken."""
        if z == 0:
            at_origin = (self._positions_of(photo) == 0).all(axis=-1)
            placed = ~(at_origin & ((xp != 0) | (yp != 0)))
            self.taken = numpy.unique(photo[placed])
            return placed
        placed = numpy.zeros(photo.shape, bool)
        for j in range(self.geometry.positions_per_tile[z]):
            for i in range(self.geometry.positions_per_tile[z]):
                placed |= numpy.isin((yp + j) * self.photos_across + xp + i, self.taken)
        return placed

    def level(self, z: int, records: LevelRecords) -> LevelLayout:
        across, down = self.slidedat.images
        divisions = self.slidedat.divisions
        concat, divisor = self.geometry.concat[z], self.geometry.count_divisor[z]
        per_image = self.geometry.tiles_per_image[z]
        index = records.image.reshape(-1, 1)
        x, y = index % across, index // across
        if (y >= down).any():
            raise CorruptSlide(f"an MRXS image of level {z} lies below the slide")
        if ((x % concat) | (y % concat)).any():
            raise CorruptSlide(f"an MRXS image of level {z} is not at a multiple of {concat}")
        # Every (image, part) pair: parts row by row within each image, images as stored.
        # Parts past the slide's last photo are never placed, so none is made.
        span_x = min(per_image, -(-across // divisions))
        span_y = min(per_image, -(-down // divisions))
        if len(index) * span_x * span_y > 4 * MAX_PIECES:
            raise CorruptSlide(f"the MRXS index makes more than {MAX_PIECES} pieces of its "
                               "images")
        xi = numpy.tile(numpy.arange(span_x), span_y).reshape(1, -1)
        yi = numpy.repeat(numpy.arange(span_y), span_x).reshape(1, -1)
        xx, yy = x + xi * divisions, y + yi * divisions
        inside = (xx < across) & (yy < down)
        self.budget -= int(inside.sum())
        if self.budget < 0:
            raise CorruptSlide(f"the MRXS index makes more than {MAX_PIECES} pieces of its "
                               "images")
        which = numpy.broadcast_to(numpy.arange(len(index)).reshape(-1, 1), inside.shape)
        which, xi, yi = which[inside], numpy.broadcast_to(xi, inside.shape)[inside], \
            numpy.broadcast_to(yi, inside.shape)[inside]
        xx, yy = xx[inside], yy[inside]
        xp, yp = xx // divisions, yy // divisions
        photo = yp * self.photos_across + xp
        if len(photo) and photo.max() >= self.count:
            raise CorruptSlide(f"an MRXS image of level {z} has no camera position")
        placed = self._placed(z, xp, yp, photo)
        which, xi, yi, xx, yy, xp, yp, photo = (a[placed] for a in
                                                (which, xi, yi, xx, yy, xp, yp, photo))
        image0 = self.slidedat.levels[0].image_size
        l0 = self._positions_of(photo) + numpy.stack(
            [image0[0] * (xx - xp * divisions), image0[1] * (yy - yp * divisions)], axis=-1)
        # OpenSlide's grid cell of each piece; a later piece in the same cell replaces it.
        column = x[:, 0][which] // divisor + xi
        row = y[:, 0][which] // divisor + yi
        keys = row * (int(column.max(initial=0)) + 1) + column
        _, last = numpy.unique(keys[::-1], return_index=True)  # sorted: row-major order
        chosen = len(keys) - 1 - last
        image = self.slidedat.levels[z].image_size
        size = (self.base[0] // concat, self.base[1] // concat)
        if min(size) < 1:
            raise CorruptSlide(f"MRXS level {z} concatenates {concat} images a side, which "
                               f"leaves nothing of {self.base[0]} x {self.base[1]} pixels")
        return LevelLayout(
            size=size,
            downsample=concat / self.geometry.concat[0],
            piece=(math.ceil(image[0] / per_image), math.ceil(image[1] / per_image)),
            parts_per_side=per_image,
            records=which[chosen],
            parts=(yi * per_image + xi)[chosen],
            positions=numpy.rint(l0[chosen] / concat).astype(numpy.int64))


def layout(slidedat: Slidedat, positions: Sequence[tuple[int, int]], measured: bool,
           records: list[LevelRecords]) -> list[LevelLayout]:
    """Every level's pieces, from the photo positions (level-0 pixels) and each level's
    stored images."""
    placer = _Placer(slidedat, positions, measured)
    return [placer.level(z, level_records) for z, level_records in enumerate(records)]
