"""The level model: where each stored tile of a level lies, and what fills the gaps.

Three layouts, as OpenSlide's grids have them (simple, tile-map and range grids):

- `RegularGrid`: tiles edge to edge in rows and columns (TIFF-family pyramids, NDPI);
- `SparseGrid`: the same grid with tiles missing (DICOM TILED_SPARSE, Philips): a missing
  tile reads as the fill colour, never as an error;
- `PlacedTiles`: every tile at its own x, y in level pixels (BIF, MRXS camera images at
  measured positions), possibly overlapping. Tiles are painted in stored order, each over the
  ones before, as OpenSlide paints its tile-map and range grids.

A level has one scale, level-0 pixels per level pixel along each axis: the one the format
states where it states one, else the ratio of level 0's size to the level's.
"""

import dataclasses
import functools
import math

import numpy

WHITE = (255, 255, 255)


@dataclasses.dataclass(frozen=True)
class RegularGrid:
    l_width: int
    l_height: int
    t_width: int
    t_height: int
    scale: tuple[float, float]  # level-0 pixels per level pixel, x and y
    fill: tuple[int, int, int] = WHITE

    @property
    def grid(self) -> tuple[int, int]:
        """(columns, rows) of the grid the tiles are numbered in."""
        return math.ceil(self.l_width / self.t_width), math.ceil(self.l_height / self.t_height)

    def origin(self, t_col: int, t_row: int) -> tuple[int, int]:
        """The tile's top-left corner in level pixels."""
        return t_col * self.t_width, t_row * self.t_height

    def stored(self, t_col: int, t_row: int) -> bool:
        """Whether the tile has stored data (else it reads as the fill colour)."""
        return True

    @property
    def whole_tiles(self) -> bool:
        """Whether each stored tile is a cell of the grid (so it may be served as it is)."""
        return True

    def tiles_meeting(self, l_left: int, l_top: int, l_right: int, l_bottom: int
                      ) -> list[tuple[int, int]]:
        """(column, row) of the stored tiles meeting the level rectangle, in paint order."""
        t_cols, t_rows = self.grid
        return [(c, r)
                for r in range(max(0, l_top // self.t_height),
                               min(t_rows, -(-l_bottom // self.t_height)))
                for c in range(max(0, l_left // self.t_width),
                               min(t_cols, -(-l_right // self.t_width)))
                if self.stored(c, r)]

    def integer_scale(self, l0_width: int, l0_height: int) -> int | None:
        """`s` if the level is level 0 shrunk by exactly the whole number `s`, its size
        rounded up; else None."""
        s = round((self.scale[0] + self.scale[1]) / 2)
        if s >= 1 and (self.l_width, self.l_height) == (-(-l0_width // s), -(-l0_height // s)):
            return s
        return None


@dataclasses.dataclass(frozen=True)
class SparseGrid(RegularGrid):
    present: frozenset[int] = frozenset()  # row-major indices of the stored tiles

    def stored(self, t_col: int, t_row: int) -> bool:
        return t_row * self.grid[0] + t_col in self.present


@dataclasses.dataclass(frozen=True)
class PlacedTiles(RegularGrid):
    """Tiles numbered row-major in rows of as many `t_width` cells as the level is wide (as
    stored), each drawn at its own position in level pixels. Overlapping tiles may be more
    than the level has cells: then there are more rows, the last one possibly short."""

    positions: tuple[tuple[int, int], ...] = ()  # (x, y) per tile, in row-major order

    @property
    def grid(self) -> tuple[int, int]:
        return placed_grid(self.l_width, self.t_width, len(self.positions))

    def stored(self, t_col: int, t_row: int) -> bool:
        return t_row * self.grid[0] + t_col < len(self.positions)

    def origin(self, t_col: int, t_row: int) -> tuple[int, int]:
        return self.positions[t_row * self.grid[0] + t_col]

    @property
    def whole_tiles(self) -> bool:
        return False

    def tiles_meeting(self, l_left: int, l_top: int, l_right: int, l_bottom: int
                      ) -> list[tuple[int, int]]:
        t_cols = self.grid[0]
        x, y = self._xy[:, 0], self._xy[:, 1]
        meeting = numpy.flatnonzero((x < l_right) & (x + self.t_width > l_left)
                                    & (y < l_bottom) & (y + self.t_height > l_top))
        return [(int(i) % t_cols, int(i) // t_cols) for i in meeting]

    @functools.cached_property
    def _xy(self) -> numpy.ndarray:
        """The positions as an array: a level may place tens of thousands of tiles, and a
        region looks for the few it meets in all of them."""
        return numpy.array(self.positions, dtype=numpy.int64).reshape(-1, 2)


def placed_grid(l_width: int, t_width: int, count: int) -> tuple[int, int]:
    """(columns, rows) in which `count` placed tiles are numbered."""
    columns = max(1, math.ceil(l_width / t_width))
    return columns, -(-count // columns)


LevelModel = RegularGrid  # SparseGrid and PlacedTiles are RegularGrids with more to say
