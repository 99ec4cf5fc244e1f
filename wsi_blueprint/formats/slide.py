"""Slide: an index joined to the bytes it describes; reads tiles still compressed.

All the tiles of one call are fetched with a single `read_many`, so the block reader can
merge neighbours into one store request and fetch the rest in parallel. Where the index keeps
a level's offsets in the file, only the entries of the asked tiles are read.
"""

import base64
import binascii
import bisect

import numpy

from ..caches import BlockReader
from ..errors import CorruptSlide, NotFound
from . import pieces
from .icc import IccProfile
from .index import (Frames, Image, Level, Pieces, RestartIntervals, Segments, SlideIndex,
                    read_entries)
from .jpeg_stream import join_intervals, with_dimensions, with_tables
from .levels import (WHITE, LatticeTiles, LevelModel, PlacedTiles, RegularGrid, SparseGrid,
                     placed_extent)
from .tile import EncodedTile


_ITEM = b"\xfe\xff\x00\xe0"        # a DICOM item tag (FFFE,E000), little-endian
_SEQUENCE_END = b"\xfe\xff\xdd\xe0"  # the sequence delimiter after the last item


def _item_values(chunk: bytes) -> bytes:
    """The data of the DICOM items (fragments of one frame) that make up `chunk`, joined."""
    values, pos = [], 0
    while pos + 8 <= len(chunk) and chunk[pos:pos + 4] != _SEQUENCE_END:
        if chunk[pos:pos + 4] != _ITEM:
            raise CorruptSlide("a DICOM frame does not start with an item header")
        length = int.from_bytes(chunk[pos + 4:pos + 8], "little")
        if pos + 8 + length > len(chunk):
            raise CorruptSlide("a DICOM frame is longer than the bytes before the next one")
        values.append(chunk[pos + 8:pos + 8 + length])
        pos += 8 + length
    if not values:
        raise CorruptSlide("a DICOM frame holds no data")
    return b"".join(values)


def _segment_limit(image: Image, layout: Segments | Frames) -> int:
    """Bytes beyond which a stored tile is not believed: twice its raw size and a margin.
    Garbled byte counts must not make one tile request read gigabytes."""
    raw = layout.tile_width * layout.tile_height * image.encoding.samples * image.encoding.bits // 8
    return 2 * raw + 64 * 1024


def _unbase64(text: bytes) -> bytes:
    try:
        return base64.b64decode(text)  # line breaks and spaces between the characters go
    except binascii.Error as exc:
        raise CorruptSlide(f"an image in base64 does not decode ({exc})") from None


class Slide:
    def __init__(self, index: SlideIndex, blocks: BlockReader):
        self.index = index
        self.blocks = blocks
        self._models: dict[int, LevelModel] = {}  # kept: a placed level indexes its tiles

    @property
    def levels(self) -> tuple[Level, ...]:
        return self.index.levels

    @property
    def associated_names(self) -> list[str]:
        return sorted(self.index.associated)

    def _level(self, level: int) -> Level:
        if not 0 <= level < len(self.levels):
            raise NotFound(f"no level {level} (the slide has {len(self.levels)})")
        return self.levels[level]

    def tile_grid(self, level: int) -> tuple[int, int]:
        """(columns, rows) of native tiles in a level."""
        return self._level(level).grid

    def level_model(self, level: int) -> LevelModel:
        """Where the level's stored tiles lie and what fills the gaps (see formats.levels)."""
        model = self._models.get(level)
        if model is None:
            model = self._models[level] = self._new_level_model(level)
        return model

    def _new_level_model(self, level: int) -> LevelModel:
        image = self._level(level)
        base = self.levels[0]
        scale = image.scale or (base.width / image.width, base.height / image.height)
        shape = (image.width, image.height, image.tile_width, image.tile_height, scale,
                 self.index.fill or WHITE)
        if image.lattice is not None:
            return LatticeTiles(*shape, lattice=image.lattice)
        if image.positions is not None:
            return PlacedTiles(*shape, positions=image.positions)
        if image.present is not None:
            return SparseGrid(*shape, present=frozenset(image.present))
        return RegularGrid(*shape)

    def read_tiles(self, level: int, coords: list[tuple[int, int]]) -> list[EncodedTile]:
        """The tiles at (column, row) of a level, in the order asked; a tile a sparse level
        does not store comes back empty (`sparse`), to be painted in the fill colour."""
        image = self._level(level)
        columns, rows = image.grid
        placed = len(image.positions) if image.positions is not None else columns * rows
        for column, row in coords:
            if not (0 <= column < columns and 0 <= row < rows
                    and row * columns + column < placed):
                raise NotFound(f"no tile {column},{row} in level {level} "
                               f"({columns}x{rows} tiles)")
        if image.present is None:
            return self._read(image, list(coords))
        present = set(image.present)
        stored = [(c, r) for c, r in coords if r * columns + c in present]
        read = iter(self._read(image, stored) if stored else [])
        return [next(read) if r * columns + c in present else self._missing(image, c, r)
                for c, r in coords]

    def _missing(self, image: Image, column: int, row: int) -> EncodedTile:
        return self._tile(image, column, row, b"", (image.tile_width, image.tile_height),
                          sparse=True)

    def read_profile(self, profile: IccProfile) -> bytes:
        """An ICC profile's bytes, through the block cache."""
        if profile.member:
            raise NotFound(f"the profile lies in {profile.member!r}, which this format does "
                           "not read")
        if profile.offset + profile.length > self.blocks.size:
            raise CorruptSlide("the ICC profile reaches past the end of the file")
        return self.blocks.read(profile.offset, profile.length)

    def read_associated(self, name: str) -> list[EncodedTile]:
        """An associated image as its stored pieces (strips or tiles), each placed by its
        `x`, `y`; together they cover `index.associated[name]` (width x height)."""
        image = self.index.associated.get(name)
        if image is None:
            raise NotFound(f"no associated image {name!r}")
        if isinstance(image.layout, Pieces):
            return pieces.read(self.blocks, image, [0])
        columns, rows = image.grid
        return self._read(image, [(c, r) for r in range(rows) for c in range(columns)])

    def _read(self, image: Image, coords: list[tuple[int, int]]) -> list[EncodedTile]:
        if isinstance(image.layout, Pieces):
            columns = image.grid[0]
            return pieces.read(self.blocks, image, [r * columns + c for c, r in coords])
        if isinstance(image.layout, RestartIntervals):
            return self._read_intervals(image, image.layout, coords)
        if isinstance(image.layout, Frames):
            return self._read_frames(image, image.layout, coords)
        return self._read_segments(image, image.layout, coords)

    def _tile(self, image: Image, column: int, row: int, data: bytes,
              stored: tuple[int, int], sparse: bool = False) -> EncodedTile:
        encoding = image.encoding
        x, y = column * image.tile_width, row * image.tile_height
        valid = (min(image.tile_width, image.width - x), min(image.tile_height, image.height - y))
        positions = getattr(image, "positions", None)  # associated images have none
        if positions is not None:  # a placed tile: valid as its position says, wherever it is
            x, y, *valid = placed_extent(positions[row * image.grid[0] + column],
                                         image.tile_width, image.tile_height)
        if getattr(image, "lattice", None) is not None:  # cut into subtiles: all of it is used
            valid = (image.tile_width, image.tile_height)
        if encoding.jpeg_tables and not sparse:
            data = with_tables(encoding.jpeg_tables, data)
        return EncodedTile(
            data=data, compression=encoding.compression, width=stored[0], height=stored[1],
            valid_width=valid[0], valid_height=valid[1],
            photometric=encoding.photometric, samples=encoding.samples, bits=encoding.bits,
            predictor=encoding.predictor, sparse=sparse, x=x, y=y)

    def table_ranges(self) -> list[tuple[int, int]]:
        """Byte ranges of the tile offset and byte-count tables kept in the file (not inline in
        the index): a cold tile read waits for its table entry first, so prefetch warms these
        when a slide opens."""
        ranges = []
        for level in self.levels:
            layout = level.layout
            if isinstance(layout, Pieces):  # kept inline in the index
                continue
            if isinstance(layout, Segments):
                tables = [layout.offsets, layout.byte_counts]
            elif isinstance(layout, Frames):
                tables = [layout.frame_of] + [table for part in (layout.parts or [layout])
                                              for table in (part.starts, part.lengths)]
            else:
                tables = [layout.starts, layout.starts_high]
            for table in tables:
                if table is not None and table.values is None and table.count:
                    size = numpy.dtype(table.dtype).itemsize * table.count
                    if table.offset + size <= self.blocks.size:
                        ranges.append((table.offset, size))
        return ranges

    def tile_ranges(self, level: int, coords: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The (offset, length) byte ranges that reading these tiles takes, without reading
        them: what prefetch warms and accounts for."""
        image = self._level(level)
        columns = image.grid[0]
        if image.present is not None:
            present = set(image.present)
            coords = [(c, r) for c, r in coords if r * columns + c in present]
        if isinstance(image.layout, Pieces):
            indices = [r * columns + c for c, r in coords]
            return pieces.ranges(image.layout,
                                 [i for i in indices if i < image.layout.offsets.count])
        if isinstance(image.layout, RestartIntervals):
            return self._interval_plan(image.layout, coords)[2]
        if isinstance(image.layout, Frames):
            return self._frame_ranges(image, image.layout, coords)
        return self._segment_ranges(image, image.layout, coords)

    def _frame_ranges(self, image: Image, layout: Frames,
                      coords: list[tuple[int, int]]) -> list[tuple[int, int]]:
        tiles = [row * image.grid[0] + column for column, row in coords]
        frames = tiles
        if layout.frame_of is not None:
            found = read_entries(self.blocks, [layout.frame_of], tiles)[0]
            frames = [found[i] for i in tiles]
        if not layout.parts:
            return self._part_ranges(image, layout, frames)
        firsts = [part.first for part in layout.parts]
        by_part: dict[int, list[int]] = {}  # part -> positions in `frames`
        for i, frame in enumerate(frames):
            by_part.setdefault(bisect.bisect_right(firsts, frame) - 1, []).append(i)
        ranges: list[tuple[int, int]] = [(0, 0)] * len(frames)
        for number, where in by_part.items():
            part = layout.parts[number]
            found = self._part_ranges(image, part, [frames[i] - part.first for i in where])
            for i, extent in zip(where, found):
                ranges[i] = extent
        return ranges

    def _part_ranges(self, image: Image, layout: Frames,
                     frames: list[int]) -> list[tuple[int, int]]:
        """The byte ranges of frames of one instance, numbered as it numbers them."""
        if layout.stride:
            return [(layout.base + frame * layout.stride, layout.stride) for frame in frames]
        count = layout.starts.count
        if layout.lengths is not None:
            starts, lengths = read_entries(self.blocks, [layout.starts, layout.lengths], frames)
            # An item holds an even number of bytes: an odd frame has one byte of padding.
            ends = {f: starts[f] + 8 + lengths[f] + lengths[f] % 2 for f in frames}
        else:  # a frame's items end where the next frame's begin
            starts = read_entries(self.blocks, [layout.starts],
                                  frames + [f + 1 for f in frames if f + 1 < count])[0]
            ends = {f: starts[f + 1] if f + 1 < count else layout.end for f in frames}
        limit = _segment_limit(image, layout) + 8
        ranges = []
        for frame in frames:
            length = ends[frame] - starts[frame]
            if not 8 < length <= limit or ends[frame] > layout.end:
                raise CorruptSlide(f"DICOM frame {frame} of {length} bytes (at most {limit} "
                                   "expected) or past the pixel data")
            ranges.append((layout.base + starts[frame], length))
        return ranges

    def _read_frames(self, image: Image, layout: Frames,
                     coords: list[tuple[int, int]]) -> list[EncodedTile]:
        datas = self.blocks.read_many(self._frame_ranges(image, layout, coords))
        size = (layout.tile_width, layout.tile_height)
        return [self._tile(image, column, row, data if layout.native else _item_values(data),
                           size) for (column, row), data in zip(coords, datas)]

    def _segment_ranges(self, image: Image, layout: Segments,
                        coords: list[tuple[int, int]]) -> list[tuple[int, int]]:
        columns = image.grid[0]
        indices = [row * columns + column for column, row in coords]
        offsets, counts = read_entries(self.blocks, [layout.offsets, layout.byte_counts],
                                       indices)
        limit = _segment_limit(image, layout)
        for i in indices:
            if counts[i] > limit:
                raise CorruptSlide(f"a stored tile of {counts[i]} bytes (at most {limit} "
                                   "expected)")
        return [(offsets[i], counts[i]) for i in indices]

    def _read_segments(self, image: Image, layout: Segments,
                       coords: list[tuple[int, int]]) -> list[EncodedTile]:
        ranges = self._segment_ranges(image, layout, coords)
        datas = self.blocks.read_many(ranges)
        if layout.base64:
            datas = [_unbase64(data) for data in datas]
        tiles = []
        for (column, row), (_, count), data in zip(coords, ranges, datas):
            height = layout.tile_height
            if layout.strips:  # the last strip holds only the rows left
                height = min(height, image.height - row * layout.tile_height)
            tiles.append(self._tile(image, column, row, data, (layout.tile_width, height),
                                    sparse=count == 0))
        return tiles

    def _interval_plan(self, layout: RestartIntervals, coords: list[tuple[int, int]]):
        """Per tile its runs of restart intervals (one per interval row), the intervals'
        start offsets, and the byte range of each run."""
        per_row = layout.intervals_per_row
        runs = []  # per tile: [(first interval, last interval)] one per interval row
        for column, row in coords:
            first_column = column * layout.tile_columns
            last_column = min(first_column + layout.tile_columns, per_row) - 1
            first_row = row * layout.tile_rows
            last_row = min(first_row + layout.tile_rows, layout.interval_rows) - 1
            runs.append([(r * per_row + first_column, r * per_row + last_column)
                         for r in range(first_row, last_row + 1)])
        # A run ends where the next interval starts, or at the stream's end.
        needed = sorted({i for tile in runs for first, last in tile
                         for i in range(first, last + 2) if i < layout.starts.count})
        starts, *high = read_entries(
            self.blocks, [layout.starts] + ([layout.starts_high] if layout.starts_high else []),
            needed)
        if high:
            starts = {i: value + (high[0][i] << 32) for i, value in starts.items()}
        starts[layout.starts.count] = layout.stream_length
        ranges = []
        for first, last in (run for tile in runs for run in tile):
            if not 0 <= starts[first] < starts[last + 1] <= layout.stream_length:
                raise CorruptSlide("NDPI restart interval offsets are out of order")
            ranges.append((layout.stream_offset + starts[first], starts[last + 1] - starts[first]))
        return runs, starts, ranges

    def _read_intervals(self, image: Image, layout: RestartIntervals,
                        coords: list[tuple[int, int]]) -> list[EncodedTile]:
        """Each tile's restart intervals, one contiguous run of the stream per interval row,
        joined into a JPEG stream of the tile's own size."""
        runs, starts, ranges = self._interval_plan(layout, coords)
        datas = iter(self.blocks.read_many(ranges))
        tiles = []
        for (column, row), tile_runs in zip(coords, runs):
            intervals = []
            for first, last in tile_runs:
                data = next(datas)
                base = starts[first]
                intervals += [data[starts[i] - base:starts[i + 1] - base]
                              for i in range(first, last + 1)]
            x, y = column * layout.tile_width, row * layout.tile_height
            size = (min(layout.tile_width, image.width - x),
                    min(layout.tile_height, image.height - y))
            header = with_dimensions(layout.header, *size)
            tiles.append(self._tile(image, column, row, join_intervals(header, intervals), size))
        return tiles
