"""SlideIndex: everything needed to find and decode any tile of a slide, parsed once.

The index is what the metadata cache holds, shared by every worker through memcached, so it
serialises to compact JSON (never pickle: a cache must not be able to run code). Small integer
arrays travel inline as base64 of little-endian integers; big ones (the tile offsets of a big
level) stay in the slide file and the index keeps only where they lie, to be read through the
block cache for just the tiles asked for. That keeps an index of a 100 000-tile slide a few
kilobytes.
"""

import base64
import dataclasses
import json
import math
from typing import Any

import numpy

from ..caches import BlockReader
from ..errors import CorruptSlide
from .icc import IccProfile
from .levels import Lattice

# Bumped whenever the JSON layout changes; an index of another version does not decode.
INDEX_VERSION = 2

# Arrays with more entries than this are referenced in the file instead of copied inline.
INLINE_LIMIT = 256
# Asked entries of a referenced array closer than this are read as one range.
_ENTRY_GAP = 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclasses.dataclass(frozen=True)
class IntArray:
    """Non-negative integers: inline `values`, or `count` items of `dtype` at file `offset`."""

    count: int
    values: tuple[int, ...] | None = None
    offset: int = 0
    dtype: str = ""  # numpy dtype of the stored items, byte order included: '<u4', '>u8'

    @classmethod
    def of(cls, values, offset: int, dtype: str) -> "IntArray":
        """Inline when small; otherwise a reference to the stored array."""
        if len(values) <= INLINE_LIMIT:
            return cls(len(values), tuple(int(v) for v in values))
        return cls(len(values), None, offset, dtype)

    def to_json(self) -> dict:
        if self.values is None:
            return {"n": self.count, "at": self.offset, "dtype": self.dtype}
        dtype = "<u4" if max(self.values, default=0) < 2 ** 32 else "<u8"
        return {"n": self.count, "dtype": dtype,
                "b64": _b64(numpy.array(self.values, dtype=dtype).tobytes())}

    @classmethod
    def from_json(cls, data: dict) -> "IntArray":
        if "b64" in data:
            values = numpy.frombuffer(_unb64(data["b64"]), numpy.dtype(data["dtype"]))
            if len(values) != data["n"]:
                raise ValueError("inline array length does not match its count")
            return cls(data["n"], tuple(int(v) for v in values))
        return cls(data["n"], None, data["at"], data["dtype"])


def _clusters(indices: list[int]) -> list[list[int]]:
    """Sorted indices grouped where neighbours are at most _ENTRY_GAP apart."""
    clusters: list[list[int]] = []
    for i in indices:
        if clusters and i - clusters[-1][-1] <= _ENTRY_GAP:
            clusters[-1].append(i)
        else:
            clusters.append([i])
    return clusters


def read_entries(blocks: BlockReader, arrays: list[IntArray],
                 indices: list[int]) -> list[dict[int, int]]:
    """{index: item} of each array at `indices`. Referenced arrays are read with a single
    read_many, one range per cluster of nearby indices, whatever their number."""
    wanted = sorted(set(indices))
    for array in arrays:
        if wanted and not 0 <= wanted[0] <= wanted[-1] < array.count:
            raise CorruptSlide(f"entry {wanted[-1]} of an array of {array.count} is missing")
    clusters = _clusters(wanted)
    referenced = [array for array in arrays if array.values is None]
    ranges = [(array.offset + cluster[0] * numpy.dtype(array.dtype).itemsize,
               (cluster[-1] - cluster[0] + 1) * numpy.dtype(array.dtype).itemsize)
              for array in referenced for cluster in clusters]
    datas = iter(blocks.read_many(ranges) if ranges else [])
    found = []
    for array in arrays:
        if array.values is not None:
            found.append({i: array.values[i] for i in wanted})
            continue
        items = {}
        for cluster in clusters:
            values = numpy.frombuffer(next(datas), numpy.dtype(array.dtype))
            items.update((i, int(values[i - cluster[0]])) for i in cluster)
        found.append(items)
    return found


@dataclasses.dataclass(frozen=True)
class Encoding:
    """How the stored pixels of one image were written."""

    compression: str   # EncodedTile's names: 'jpeg', 'jpeg2000', 'deflate', 'lzw', ...
    photometric: str   # 'rgb', 'ycbcr', 'minisblack'
    samples: int = 3
    bits: int = 8
    predictor: int = 1
    jpeg_tables: bytes = b""  # shared tables of abbreviated JPEG streams, else empty

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["jpeg_tables"] = _b64(self.jpeg_tables)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Encoding":
        return cls(**{**data, "jpeg_tables": _unb64(data["jpeg_tables"])})


@dataclasses.dataclass(frozen=True)
class Segments:
    """A TIFF image's tiles or strips, in row-major order.

    A strip is a tile as wide as the image; the last strip holds only the rows left, where an
    edge tile is stored full size. `base64`: each segment is base64 text of its bytes (an image
    inside an XML description, as Philips keeps label and macro).
    """

    tile_width: int
    tile_height: int
    offsets: IntArray
    byte_counts: IntArray
    strips: bool = False
    base64: bool = False

    def to_json(self) -> dict:
        data = {"kind": "segments", "tile_width": self.tile_width,
                "tile_height": self.tile_height, "strips": self.strips,
                "offsets": self.offsets.to_json(), "byte_counts": self.byte_counts.to_json()}
        if self.base64:
            data["base64"] = True
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Segments":
        return cls(data["tile_width"], data["tile_height"], IntArray.from_json(data["offsets"]),
                   IntArray.from_json(data["byte_counts"]), data["strips"],
                   data.get("base64", False))


@dataclasses.dataclass(frozen=True)
class RestartIntervals:
    """One JPEG stream cut by restart markers (NDPI), served as virtual tiles.

    A virtual tile is a block of `tile_columns` x `tile_rows` restart intervals; `starts` gives
    each interval's offset from the stream's start (`starts_high` the bits above 32, if any).
    """

    stream_offset: int
    stream_length: int
    header: bytes            # SOI through SOS, as stored (dimensions are those of the level)
    starts: IntArray
    starts_high: IntArray | None
    interval_width: int      # pixels covered by one interval
    interval_height: int
    intervals_per_row: int
    interval_rows: int
    tile_columns: int        # intervals per virtual tile, across and down
    tile_rows: int

    @property
    def tile_width(self) -> int:
        return self.interval_width * self.tile_columns

    @property
    def tile_height(self) -> int:
        return self.interval_height * self.tile_rows

    def to_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data.update(kind="restart_intervals", header=_b64(self.header),
                    starts=self.starts.to_json(),
                    starts_high=self.starts_high.to_json() if self.starts_high else None)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "RestartIntervals":
        fields = {k: v for k, v in data.items() if k != "kind"}
        fields.update(header=_unb64(data["header"]), starts=IntArray.from_json(data["starts"]),
                      starts_high=IntArray.from_json(data["starts_high"])
                      if data["starts_high"] else None)
        return cls(**fields)


_LAYOUTS = {"segments": Segments, "restart_intervals": RestartIntervals}


@dataclasses.dataclass(frozen=True)
class Image:
    """A stored raster: a pyramid level or an associated image (label, macro, thumbnail)."""

    width: int
    height: int
    encoding: Encoding
    layout: Segments | RestartIntervals

    @property
    def tile_width(self) -> int:
        return self.layout.tile_width

    @property
    def tile_height(self) -> int:
        return self.layout.tile_height

    @property
    def grid(self) -> tuple[int, int]:
        """(columns, rows) of tiles."""
        return (math.ceil(self.width / self.tile_width), math.ceil(self.height / self.tile_height))

    def to_json(self) -> dict:
        return {"width": self.width, "height": self.height, "encoding": self.encoding.to_json(),
                "layout": self.layout.to_json()}

    @staticmethod
    def _fields_from_json(data: dict) -> dict:
        layout = data["layout"]
        return {"width": data["width"], "height": data["height"],
                "encoding": Encoding.from_json(data["encoding"]),
                "layout": _LAYOUTS[layout["kind"]].from_json(layout)}

    @classmethod
    def from_json(cls, data: dict) -> "Image":
        return cls(**cls._fields_from_json(data))


@dataclasses.dataclass(frozen=True)
class Level(Image):
    downsample: float = 1.0  # relative to level 0, as the mean of the width and height ratios
    # What the format states beyond a regular grid (see formats.levels); unset for most.
    scale: tuple[float, float] | None = None     # level-0 pixels per level pixel, x and y
    present: tuple[int, ...] | None = None       # sparse grid: row-major indices stored
    positions: tuple[tuple[int, ...], ...] | None = None  # placed tiles: x, y of each
    lattice: Lattice | None = None               # tiles on a lattice (BIF)

    @property
    def grid(self) -> tuple[int, int]:
        if self.lattice is not None:  # the stored grid; the level is the lattice's extent
            return self.lattice.columns, self.lattice.rows
        return super().grid

    def to_json(self) -> dict:
        data = {**super().to_json(), "downsample": self.downsample}
        for name in ("scale", "present", "positions"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.lattice is not None:
            data["lattice"] = self.lattice.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Level":
        return cls(**cls._fields_from_json(data), downsample=data["downsample"],
                   scale=tuple(data["scale"]) if "scale" in data else None,
                   present=tuple(data["present"]) if "present" in data else None,
                   positions=tuple(map(tuple, data["positions"])) if "positions" in data
                   else None,
                   lattice=Lattice.from_json(data["lattice"]) if "lattice" in data else None)


@dataclasses.dataclass(frozen=True)
class SlideIndex:
    format: str                      # 'aperio', 'generic-tiff', 'hamamatsu'
    levels: tuple[Level, ...]        # level 0 first, each smaller than the one before
    mpp: tuple[float, float] | None  # micrometres per pixel at level 0 (x, y)
    objective_power: float | None
    properties: dict[str, str]
    associated: dict[str, Image]     # 'label', 'macro', 'thumbnail' where present
    icc_profile: IccProfile | None = None  # the slide's (level 0's), where it lies
    # each associated image's own profile, where it has one (never the slide's)
    associated_icc: dict[str, IccProfile] = dataclasses.field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.levels[0].width

    @property
    def height(self) -> int:
        return self.levels[0].height

    def to_bytes(self) -> bytes:
        data = {
            "version": INDEX_VERSION,
            "format": self.format,
            "levels": [level.to_json() for level in self.levels],
            "mpp": list(self.mpp) if self.mpp else None,
            "objective_power": self.objective_power,
            "properties": self.properties,
            "associated": {name: image.to_json() for name, image in self.associated.items()},
            "icc_profile": self.icc_profile.to_json() if self.icc_profile else None,
            "associated_icc": {name: profile.to_json()
                               for name, profile in self.associated_icc.items()},
        }
        return json.dumps(data, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> "SlideIndex":
        """Raises ValueError for data that is not an index of `INDEX_VERSION`."""
        try:
            obj: Any = json.loads(data)
            if obj.get("version") != INDEX_VERSION:
                raise ValueError(f"slide index version {obj.get('version')!r}, "
                                 f"expected {INDEX_VERSION}")
            return cls(
                format=obj["format"],
                levels=tuple(Level.from_json(level) for level in obj["levels"]),
                mpp=tuple(obj["mpp"]) if obj["mpp"] else None,
                objective_power=obj["objective_power"],
                properties=dict(obj["properties"]),
                associated={name: Image.from_json(image)
                            for name, image in obj["associated"].items()},
                icc_profile=IccProfile.from_json(obj["icc_profile"]) if obj["icc_profile"]
                else None,
                associated_icc={name: IccProfile.from_json(profile)
                                for name, profile in obj["associated_icc"].items()},
            )
        except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a slide index: {exc!r}") from None

    # The metadata cache's codec interface (caches.TieredCache calls these on the class).
    @staticmethod
    def encode(value: "SlideIndex") -> bytes:
        return value.to_bytes()

    @staticmethod
    def decode(data: bytes) -> "SlideIndex":
        return SlideIndex.from_bytes(data)
