"""The level model: where each stored tile of a level lies, and what fills the gaps.

Four layouts, as OpenSlide's grids have them (simple, tile-map and range grids):

- `RegularGrid`: tiles edge to edge in rows and columns (TIFF-family pyramids, NDPI);
- `SparseGrid`: the same grid with tiles missing (DICOM TILED_SPARSE, Philips): a missing
  tile reads as the fill colour, never as an error;
- `PlacedTiles`: every tile at its own x, y in level pixels (MRXS camera images at measured
  positions, the regions of a Leica collection), possibly overlapping. Tiles are painted in
  stored order, each over the ones before;
- `LatticeTiles`: Ventana BIF camera fields at a measured advance (OpenSlide's tile map), each
  stored tile of a reduced level cut into the subtiles of the fields it shrinks, each placed
  on its own.

A level has one scale, level-0 pixels per level pixel along each axis: the one the format
states where it states one, else the ratio of level 0's size to the level's.
"""

import dataclasses
import math

WHITE = (255, 255, 255)

# (source x, source y, width, height, x, y): a part of a stored tile and where it goes
Part = tuple[int, int, int, int, int, int]


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

    @property
    def reducible(self) -> bool:
        """Whether tiles may be reduced on their own while decoding: where they lie in a
        level reduced by any factor is still a whole pixel."""
        return True

    def parts(self, t_col: int, t_row: int) -> tuple[Part, ...] | None:
        """Where parts of the tile go when it is not drawn whole at its origin (a lattice's
        subtiles), in level pixels and paint order; None when it is drawn whole."""
        return None

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


def placed_extent(position: tuple[int, ...], t_width: int, t_height: int
                  ) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a placed tile: a position may give how much of the tile is
    image (the edge tiles of a Leica region), else all of it is."""
    if len(position) == 4:
        return position  # type: ignore[return-value]
    return position[0], position[1], t_width, t_height


@dataclasses.dataclass(frozen=True)
class PlacedTiles(RegularGrid):
    """Tiles numbered in a grid of `t_width` x `t_height` cells (as stored), each drawn at
    its own position in level pixels. Cells past the last tile hold none."""

    # (x, y), or (x, y, width, height) of the tile's image part, per tile in row-major order
    positions: tuple[tuple[int, ...], ...] = ()

    def origin(self, t_col: int, t_row: int) -> tuple[int, int]:
        x, y = self.positions[t_row * self.grid[0] + t_col][:2]
        return x, y

    def stored(self, t_col: int, t_row: int) -> bool:
        return t_row * self.grid[0] + t_col < len(self.positions)

    @property
    def whole_tiles(self) -> bool:
        return False

    def tiles_meeting(self, l_left: int, l_top: int, l_right: int, l_bottom: int
                      ) -> list[tuple[int, int]]:
        t_cols = self.grid[0]
        extents = (placed_extent(p, self.t_width, self.t_height) for p in self.positions)
        return [(i % t_cols, i // t_cols) for i, (x, y, w, h) in enumerate(extents)
                if x < l_right and x + w > l_left and y < l_bottom and y + h > l_top]


@dataclasses.dataclass(frozen=True)
class Lattice:
    """Ventana BIF: level-0 tiles (camera fields) at a fixed advance, area by area.

    A level-0 tile (column, row) of an area lies at the area's position plus (column - start
    column, row - start row) times the advance, in level-0 pixels. A reduced level stores the
    level-0 tiles butted together and shrunk, so each of its stored tiles is cut into `split`
    x `split` subtiles, one per level-0 tile, each placed where that tile lies.
    """

    columns: int  # the stored tile grid of the level
    rows: int
    split: int
    advance: tuple[float, float]
    areas: tuple[tuple[int, int, int, int, float, float], ...]  # start column, start row,
    #                                                 columns, rows, x, y (level-0 pixels)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Lattice":
        return cls(data["columns"], data["rows"], data["split"], tuple(data["advance"]),
                   tuple(tuple(area) for area in data["areas"]))


@dataclasses.dataclass(frozen=True)
class LatticeTiles(RegularGrid):
    """Stored tiles cut into subtiles placed on a lattice. Where neighbours overlap, the one
    below or to the right is on top: OpenSlide paints its tile map from the bottom right with
    a saturating operator, under which the first paint of a pixel stays."""

    lattice: Lattice | None = None

    @property
    def grid(self) -> tuple[int, int]:
        return self.lattice.columns, self.lattice.rows

    @property
    def whole_tiles(self) -> bool:
        return False

    @property
    def reducible(self) -> bool:
        return False  # subtiles a fraction of a pixel off in a reduced level show as seams

    def _subtile_origin(self, area, column: int, row: int) -> tuple[int, int]:
        start_column, start_row, _, _, x, y = area
        advance_x, advance_y = self.lattice.advance
        return (round((x + (column - start_column) * advance_x) / self.scale[0]),
                round((y + (row - start_row) * advance_y) / self.scale[1]))

    def stored(self, t_col: int, t_row: int) -> bool:
        return bool(self.parts(t_col, t_row))

    def parts(self, t_col: int, t_row: int) -> tuple[Part, ...] | None:
        split = self.lattice.split
        width, height = self.t_width // split, self.t_height // split
        found = []
        for area in self.lattice.areas:
            start_column, start_row, columns, rows = area[:4]
            for row in range(max(t_row * split, start_row),
                             min((t_row + 1) * split, start_row + rows)):
                for column in range(max(t_col * split, start_column),
                                    min((t_col + 1) * split, start_column + columns)):
                    found.append((column % split * width, row % split * height, width, height,
                                  *self._subtile_origin(area, column, row)))
        found.sort(key=lambda part: (part[1], part[0]))
        return tuple(found)

    def tiles_meeting(self, l_left: int, l_top: int, l_right: int, l_bottom: int
                      ) -> list[tuple[int, int]]:
        split = self.lattice.split
        width, height = self.t_width // split, self.t_height // split
        step_x = self.lattice.advance[0] / self.scale[0]
        step_y = self.lattice.advance[1] / self.scale[1]
        cells = set()
        for area in self.lattice.areas:
            start_column, start_row, columns, rows = area[:4]
            x0, y0 = self._subtile_origin(area, start_column, start_row)
            first_column = max(0, math.floor((l_left - x0 - width) / step_x))
            first_row = max(0, math.floor((l_top - y0 - height) / step_y))
            for row in range(start_row + first_row, start_row + rows):
                x, y = self._subtile_origin(area, start_column, row)
                if y >= l_bottom:
                    break
                if y + height <= l_top:
                    continue
                for column in range(start_column + first_column, start_column + columns):
                    x, _ = self._subtile_origin(area, column, row)
                    if x >= l_right:
                        break
                    if x + width > l_left:
                        cells.add((column // split, row // split))
        return sorted(cells, key=lambda cell: (cell[1], cell[0]))


LevelModel = RegularGrid  # SparseGrid, PlacedTiles and LatticeTiles are RegularGrids with more
