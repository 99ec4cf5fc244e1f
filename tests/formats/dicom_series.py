"""DICOM WSI series written from the shared SVS slides, one for each way of addressing frames.

wsidicomizer re-wraps the SVS's JPEG tiles as frames: the JPEG tables spliced in and an Adobe APP14
marker added, the entropy-coded data the SVS's own, so level 0 reads exactly the SVS's pixels. The
levels below it are wsidicom's own downsamples, JFIF (YCbCr) frames it labels RGB and whose edge
frames it writes short (120 x 240 where 240 x 240 is due): `conform` labels them YBR_FULL_422 and
makes every frame full size, as the standard says and OpenSlide, the reference, needs (it trusts
the label and decodes the short frames not at all). Its Extended Offset Table lengths count each
item's header: `conform` writes them as the standard does. wsidicomizer writes Basic, Extended and
empty offset tables itself but only TILED_FULL; `make_sparse` rewrites a level as TILED_SPARSE with
pydicom (frames stored last to first, one left out).
"""

import dataclasses
import os
import struct

import numpy as np
import pydicom
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.sequence import Sequence

from wsi_blueprint.bench.dicomgen import dicomize

OFFSET_TABLES = ("bot", "eot", "empty")
LAYOUTS = OFFSET_TABLES + ("sparse",)
ITEM_TAG = b"\xfe\xff\x00\xe0"


@dataclasses.dataclass(frozen=True)
class Instance:
    path: str
    role: str  # ImageType's third value: VOLUME, LABEL, OVERVIEW, THUMBNAIL
    size: tuple[int, int]  # TotalPixelMatrixColumns, Rows
    tile: tuple[int, int]  # Columns, Rows: the frame size

    @property
    def grid(self) -> tuple[int, int]:
        return (-(-self.size[0] // self.tile[0]), -(-self.size[1] // self.tile[1]))


@dataclasses.dataclass
class WrittenSeries:
    """A series in its own folder; its slide id is the folder's name under the set's root."""

    name: str
    folder: str
    source: str  # the SVS it was written from
    missing: frozenset = frozenset()  # (col, row) of level 0 left out of a sparse level

    @property
    def instances(self) -> list[Instance]:
        return [_instance(os.path.join(self.folder, name))
                for name in sorted(os.listdir(self.folder))]

    @property
    def levels(self) -> list[Instance]:
        """The VOLUME instances, largest first."""
        volumes = [i for i in self.instances if i.role == "VOLUME"]
        return sorted(volumes, key=lambda i: -i.size[0])

    def any_instance(self) -> str:
        """A file of the series (OpenSlide opens the whole series from any one)."""
        return self.levels[0].path

    def frames(self, level: int) -> dict[tuple[int, int], bytes]:
        """The stored frames of a level by (col, row), as the file holds them."""
        return stored_frames(self.levels[level].path)


@dataclasses.dataclass
class DicomSeriesSet:
    root: str
    series: dict[str, WrittenSeries]

    def __getitem__(self, name: str) -> WrittenSeries:
        return self.series[name]


def _instance(path: str) -> Instance:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return Instance(path, ds.ImageType[2], (ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows),
                    (ds.Columns, ds.Rows))


def write_series(*series: tuple[str, str, str], conforming: bool = True) -> None:
    """Each (SVS, folder, offset table) as a series with every level down to one tile, its
    associated images too; as wsidicomizer writes it unless `conforming`."""
    dicomize(*[(source, folder, {"offset_table": offset_table, "add_missing_levels": True})
               for source, folder, offset_table in series])
    for _, folder, _ in series if conforming else ():
        for name in os.listdir(folder):
            conform(os.path.join(folder, name))


def _is_jfif(frame: bytes) -> bool:
    """YCbCr by the JPEG stream's own word: a JFIF marker and no Adobe one before the scan."""
    head = frame[:frame.index(b"\xff\xda")]
    return head[2:4] == b"\xff\xe0" and b"\xff\xee" not in head


def conform(path: str) -> int:
    """Labels an instance of JFIF frames YBR_FULL_422; re-encodes the frames of a level that
    are smaller than its tile size at full size, the missing pixels repeating the edge, as
    YCbCr 4:2:2; keeps the offset table kind, an Extended one rewritten as the standard has
    it. Returns how many frames it re-encoded."""
    import imagecodecs
    import simplejpeg

    ds = pydicom.dcmread(path)
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1)),
                                  extended_offsets=_extended_offsets(ds)))
    relabel = ds.PhotometricInterpretation == "RGB" and _is_jfif(frames[0])
    if relabel:
        ds.PhotometricInterpretation = "YBR_FULL_422"
    padded = 0
    for i, frame in enumerate(frames):
        height, width = simplejpeg.decode_jpeg_header(frame)[:2]
        if (width, height) == (ds.Columns, ds.Rows):
            continue
        pixels = simplejpeg.decode_jpeg(frame)
        full = np.pad(pixels, ((0, ds.Rows - height), (0, ds.Columns - width), (0, 0)), "edge")
        frames[i] = imagecodecs.jpeg8_encode(full, level=90, subsampling="422")
        padded += 1
    extended = "ExtendedOffsetTable" in ds
    if extended:  # wsidicom's lengths count each item's header; the standard's do not
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = \
            encapsulate_extended(frames)
    elif padded:
        ds.PixelData = encapsulate(frames, has_bot=basic_offset_table(path) != b"")
    if padded or relabel or extended:
        ds.save_as(path, enforce_file_format=True)
    return padded


def basic_offset_table(path: str) -> bytes:
    """The value of the Basic Offset Table item (empty when the table is)."""
    data = pydicom.dcmread(path).PixelData
    if data[:4] != ITEM_TAG:
        raise ValueError(f"{path}: pixel data is not encapsulated")
    length = struct.unpack("<I", data[4:8])[0]
    return data[8:8 + length]


def stored_frames(path: str) -> dict[tuple[int, int], bytes]:
    """Frames by (col, row): in TILED_FULL order, or where TILED_SPARSE places them."""
    ds = pydicom.dcmread(path)
    count = int(ds.get("NumberOfFrames", 1))
    frames = list(generate_frames(ds.PixelData, number_of_frames=count,
                                  extended_offsets=_extended_offsets(ds)))
    if ds.get("DimensionOrganizationType") == "TILED_SPARSE":
        keys = [((p.ColumnPositionInTotalImagePixelMatrix - 1) // ds.Columns,
                 (p.RowPositionInTotalImagePixelMatrix - 1) // ds.Rows)
                for p in (g.PlanePositionSlideSequence[0]
                          for g in ds.PerFrameFunctionalGroupsSequence)]
    else:
        columns = -(-ds.TotalPixelMatrixColumns // ds.Columns)
        keys = [(i % columns, i // columns) for i in range(count)]
    return dict(zip(keys, frames))


def _extended_offsets(ds):
    if "ExtendedOffsetTable" not in ds:
        return None
    return ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths


def jpeg_stream(frame: bytes) -> bytes:
    """A JPEG frame without the null byte DICOM pads odd-length items with."""
    return frame[:frame.rindex(b"\xff\xd9") + 2]


def make_sparse(path: str, dropped: tuple[int, int]) -> None:
    """Rewrites a TILED_FULL instance in place as TILED_SPARSE: every frame's position in
    PlanePositionSlideSequence (1-based), the frames stored last to first (so order proves
    nothing), the frame at `dropped` (col, row) left out."""
    ds = pydicom.dcmread(path)
    frames = stored_frames(path)
    del frames[dropped]
    shared = ds.SharedFunctionalGroupsSequence[0]
    row_spacing, column_spacing = (float(v) for v in
                                   shared.PixelMeasuresSequence[0].PixelSpacing)
    origin = ds.TotalPixelMatrixOriginSequence[0]
    orientation = [float(v) for v in ds.ImageOrientationSlide]
    per_frame, data = [], []
    for (col, row), frame in sorted(frames.items(), reverse=True):
        x, y = col * ds.Columns, row * ds.Rows
        position = pydicom.Dataset()
        position.ColumnPositionInTotalImagePixelMatrix = x + 1
        position.RowPositionInTotalImagePixelMatrix = y + 1
        position.XOffsetInSlideCoordinateSystem = round(
            float(origin.XOffsetInSlideCoordinateSystem) + orientation[0] * x * column_spacing
            + orientation[3] * y * row_spacing, 6)
        position.YOffsetInSlideCoordinateSystem = round(
            float(origin.YOffsetInSlideCoordinateSystem) + orientation[1] * x * column_spacing
            + orientation[4] * y * row_spacing, 6)
        position.ZOffsetInSlideCoordinateSystem = 0
        group = pydicom.Dataset()
        group.PlanePositionSlideSequence = Sequence([position])
        per_frame.append(group)
        data.append(frame)
    ds.DimensionOrganizationType = "TILED_SPARSE"
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.NumberOfFrames = len(data)
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.PixelData = encapsulate(data, has_bot=True)
    ds.save_as(path, enforce_file_format=True)


def write_set(root: str, cmu: str, small: str) -> DicomSeriesSet:
    """CMU-1-Small-Region in every layout, small.svs (16 x 16 in one 64 px frame) with a BOT."""
    folders = {f"cmu-{layout}": os.path.join(root, f"cmu-{layout}") for layout in LAYOUTS}
    folders["small-bot"] = os.path.join(root, "small-bot")
    write_series(*[(cmu, folders[f"cmu-{layout}"], "bot" if layout == "sparse" else layout)
                   for layout in LAYOUTS], (small, folders["small-bot"], "bot"))
    series = {}
    for layout in LAYOUTS:
        name = f"cmu-{layout}"
        missing = frozenset()
        if layout == "sparse":
            written = WrittenSeries(name, folders[name], cmu)
            columns, rows = written.levels[0].grid
            missing = frozenset({(columns // 2, rows // 2)})
            make_sparse(written.levels[0].path, next(iter(missing)))
        series[name] = WrittenSeries(name, folders[name], cmu, missing)
    series["small-bot"] = WrittenSeries("small-bot", folders["small-bot"], small)
    return DicomSeriesSet(root, series)

