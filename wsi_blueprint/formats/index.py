"""SlideIndex: everything needed to find and decode any tile of a slide, parsed once.

The index is what the metadata cache holds, shared by every worker through memcached, so it
serialises to compact JSON (never pickle: a cache must not be able to run code). Small integer
arrays travel inline as base64 of little-endian integers; big ones (the tile offsets of a big
level) stay in the slide file and the index keeps only where they lie, to be read through the
block cache for just the tiles asked for. That keeps an index of a 100 000-tile slide a few
kilobytes.
"""

import dataclasses
import json
import math
from typing import Any

from .icc import IccProfile
from .int_arrays import INLINE_LIMIT, IntArray, b64, read_entries, unb64  # noqa: F401
from .levels import Lattice, placed_grid

# Bumped whenever the JSON layout changes; an index of another version does not decode.
INDEX_VERSION = 4


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
        data["jpeg_tables"] = b64(self.jpeg_tables)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Encoding":
        return cls(**{**data, "jpeg_tables": unb64(data["jpeg_tables"])})


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
        data.update(kind="restart_intervals", header=b64(self.header),
                    starts=self.starts.to_json(),
                    starts_high=self.starts_high.to_json() if self.starts_high else None)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "RestartIntervals":
        fields = {k: v for k, v in data.items() if k != "kind"}
        fields.update(header=unb64(data["header"]), starts=IntArray.from_json(data["starts"]),
                      starts_high=IntArray.from_json(data["starts_high"])
                      if data["starts_high"] else None)
        return cls(**fields)


@dataclasses.dataclass(frozen=True)
class Frames:
    """A DICOM instance's frames, tile (column, row) being frame `frame_of[row * columns +
    column]` (frame `row * columns + column` without `frame_of`).

    Native pixel data (`stride` > 0): frame i is the `stride` bytes at `base + i * stride`.
    Encapsulated: frame i's items (fragments) lie from `base + starts[i]` to the next frame's
    start (or `end`), each an 8-byte item header then data; `lengths[i]`, where known (the
    Extended Offset Table), is the data length of its single item.

    A level concatenated over several instances keeps each instance's frames as one of its
    `parts`, in order, each numbering its frames from the level's frame `first`.
    """

    tile_width: int
    tile_height: int
    base: int
    starts: IntArray | None = None
    lengths: IntArray | None = None
    end: int = 0
    stride: int = 0
    frame_of: IntArray | None = None
    first: int = 0
    parts: tuple["Frames", ...] = ()

    @property
    def native(self) -> bool:
        return (self.parts[0] if self.parts else self).stride > 0

    def to_json(self) -> dict:
        data = {"kind": "frames", "tile_width": self.tile_width,
                "tile_height": self.tile_height, "base": self.base, "end": self.end,
                "stride": self.stride}
        for name in ("starts", "lengths", "frame_of"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name).to_json()
        if self.first:
            data["first"] = self.first
        if self.parts:
            data["parts"] = [part.to_json() for part in self.parts]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Frames":
        arrays = {name: IntArray.from_json(data[name])
                  for name in ("starts", "lengths", "frame_of") if name in data}
        return cls(data["tile_width"], data["tile_height"], data["base"], end=data["end"],
                   stride=data["stride"], first=data.get("first", 0),
                   parts=tuple(cls.from_json(part) for part in data.get("parts", ())),
                   **arrays)


@dataclasses.dataclass(frozen=True)
class Pieces:
    """Whole stored images, each tile a piece of one, placed on its own (MRXS).

    Tile `i` is part `parts[i]` (row-major among `parts_per_side` x `parts_per_side`; none
    kept where images are drawn whole) of the image of `byte_counts[i]` bytes at `offsets[i]`
    (joined offsets: the member holding it is part of the offset, see storage.joined). A piece
    is `tile_width` x `tile_height`, and 0 x 0 for an image whose size is learnt when read.
    """

    tile_width: int
    tile_height: int
    image_width: int
    image_height: int
    parts_per_side: int
    offsets: IntArray
    byte_counts: IntArray
    parts: IntArray

    def source(self, tile: int) -> tuple[int, int]:
        """The top-left corner of a tile's part in its image."""
        if self.parts_per_side == 1:
            return 0, 0
        side, part = self.parts_per_side, self.parts.values[tile]
        return (part % side * self.image_width // side, part // side * self.image_height // side)

    def to_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data.update({name: getattr(self, name).to_json() for name in _PIECE_ARRAYS},
                    kind="pieces")
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Pieces":
        fields = {k: v for k, v in data.items() if k != "kind"}
        fields.update({name: IntArray.from_json(data[name]) for name in _PIECE_ARRAYS})
        return cls(**fields)


_PIECE_ARRAYS = ("offsets", "byte_counts", "parts")
_LAYOUTS = {"segments": Segments, "restart_intervals": RestartIntervals, "frames": Frames,
            "pieces": Pieces}


@dataclasses.dataclass(frozen=True)
class Image:
    """A stored raster: a pyramid level or an associated image (label, macro, thumbnail)."""

    width: int
    height: int
    encoding: Encoding
    layout: Segments | RestartIntervals | Frames | Pieces

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
        if self.positions is not None:
            return placed_grid(self.width, self.height, self.tile_width, self.tile_height,
                               len(self.positions))
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
    # A slide made of several objects (formats.members): their ids, member i's bytes at joined
    # offset i << 40, and which of several slides in them this is ("@<series UID>"), if any.
    files: tuple[str, ...] = ()
    part: str = ""
    fill: tuple[int, int, int] | None = None  # the colour of gaps, where the format names one
    # Keys of properties that identify the patient as the label does (a barcode): shown only
    # where the label is.
    phi_properties: tuple[str, ...] = ()
    # Which slide each id of its objects opens, as the `part` of that slide ("" the whole):
    # every id of a series (its folder, a suffix, each instance) finds the one cached index.
    aliases: dict[str, str] = dataclasses.field(default_factory=dict)

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
            "files": list(self.files),
            "part": self.part,
        }
        if self.fill is not None:
            data["fill"] = list(self.fill)
        if self.phi_properties:
            data["phi_properties"] = list(self.phi_properties)
        if self.aliases:
            data["aliases"] = self.aliases
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
                files=tuple(obj["files"]),
                part=obj["part"],
                fill=tuple(obj["fill"]) if "fill" in obj else None,
                phi_properties=tuple(obj.get("phi_properties", ())),
                aliases=dict(obj.get("aliases", {})),
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
