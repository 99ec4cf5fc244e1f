"""DICOM WSI for the benchmark: the generated slides as series, and levels of many frames.

- `ensure_series`: a generated SVS written as a DICOM series by wsidicomizer, which re-wraps
  its JPEG tiles as frames (tables spliced in, never re-encoded), so the series has the SVS's
  levels, tiles and pixels and the comparison is one of formats alone. Cached beside the slide.
- `write_frames_level`: one TILED_FULL level of many small frames, written straight to the
  file (the dataset by pydicom, the pixel data item by item), so a 50,000-frame level takes
  about a second. Frames cycle through a few hundred distinct JPEGs of distinct sizes, so a
  reader that addresses the wrong frame or offset serves the wrong bytes.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

SERIES_VERSION = 1
FRAMES_VERSION = 1
OFFSET_TABLES = ("bot", "eot", "empty")
DISTINCT_FRAMES = 251
_ITEM, _SEQUENCE_END = b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_PIXEL_DATA_OB = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff"  # undefined length
_WSI_STORAGE = "1.2.840.10008.5.1.4.1.1.77.1.6"


def series_folder(slide_path: str) -> str:
    """Where the series of a generated slide is kept: beside it, named after it."""
    stem = os.path.splitext(slide_path)[0]
    return f"{stem}-dicom-v{SERIES_VERSION}"


def dicomize(*conversions: tuple[str, str, dict]) -> None:
    """`WsiDicomizer.convert(source, folder, workers=1, **options)` for each (source, folder,
    options), all in one child process: importing wsidicomizer turns on pydicom's strict
    validation and future behaviour for the whole process, and real files (long UIDs, trailing
    dots) then fail to read in every other DICOM reader. One child for all: its import is most
    of a small slide's conversion."""
    script = ("import json, sys\n"
              "from wsidicomizer import WsiDicomizer\n"
              "for source, folder, options in json.loads(sys.argv[1]):\n"
              "    WsiDicomizer.convert(source, folder, workers=1, **options)")
    subprocess.run([sys.executable, "-c", script, json.dumps(conversions)],
                   check=True, timeout=900, stdout=subprocess.DEVNULL)


def ensure_series(slide_path: str, log=print) -> str:
    """The folder of the slide's DICOM series (Basic Offset Tables), written where missing."""
    folder = series_folder(slide_path)
    if os.path.isdir(folder):
        return folder
    log(f"writing {os.path.basename(slide_path)} as a DICOM series in {folder}")
    partial = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(folder))
    os.rmdir(partial)  # wsidicomizer makes the folder itself
    dicomize((slide_path, partial, {"offset_table": "bot", "include_label": False,
                                    "include_overview": False}))
    os.replace(partial, folder)
    return folder


def frame_jpegs(size: int, count: int = DISTINCT_FRAMES) -> list[bytes]:
    """`count` distinct baseline JPEGs of size x size (YCbCr 4:2:2), each a colour ramp."""
    import simplejpeg

    ramp = np.linspace(0, 1, size, dtype=np.float32)[None, :, None]
    frames = []
    for i in range(count):
        colour = np.array([(i * 37) % 256, (i * 91) % 256, (i * 53) % 256], np.float32)
        pixels = (colour * (0.5 + 0.5 * ramp)).repeat(size, axis=0).astype(np.uint8)
        frames.append(simplejpeg.encode_jpeg(np.ascontiguousarray(pixels), quality=60 + i % 40,
                                             colorspace="RGB", colorsubsampling="422"))
    return frames


def level_frames(frame: int = 16, jpegs: list[bytes] | None = None) -> list[bytes]:
    """The distinct frames a write_frames_level file cycles through, padded as stored."""
    return [j + b"\x00" * (len(j) % 2) for j in jpegs or frame_jpegs(frame)]


def frame_of(frames: list[bytes], index: int) -> bytes:
    """The frame stored at `index` (0-based, TILED_FULL order) by write_frames_level."""
    return frames[index % len(frames)]


def _dataset(columns: int, rows: int, frame: int, count: int):
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import JPEGBaseline8Bit, generate_uid

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = _WSI_STORAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.SOPClassUID = _WSI_STORAGE
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "SM", 1, 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.VolumetricProperties = "VOLUME"
    ds.PatientName = ds.PatientID = ds.StudyID = ds.AccessionNumber = ""
    ds.Manufacturer = "wsi_blueprint bench"
    ds.PositionReferenceIndicator = "SLIDE_CORNER"
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = \
        3, "YBR_FULL_422", 0
    ds.NumberOfFrames, ds.Rows, ds.Columns = count, frame, frame
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.BurnedInAnnotation, ds.SpecimenLabelInImage = "NO", "NO"
    ds.LossyImageCompression, ds.LossyImageCompressionMethod = "01", "ISO_10918_1"
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = columns * frame, rows * frame
    ds.TotalPixelMatrixFocalPlanes, ds.NumberOfOpticalPaths = 1, 1
    ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
    origin = pydicom.Dataset()
    origin.XOffsetInSlideCoordinateSystem = origin.YOffsetInSlideCoordinateSystem = 20
    ds.TotalPixelMatrixOriginSequence = [origin]
    path = pydicom.Dataset()
    path.OpticalPathIdentifier = "0"
    ds.OpticalPathSequence = [path]
    measures = pydicom.Dataset()
    measures.PixelSpacing, measures.SliceThickness = [0.00025, 0.00025], 0.001
    shared = pydicom.Dataset()
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    return ds


def write_frames_level(path: str, columns: int, rows: int, offset_table: str,
                       frame: int = 16, jpegs: list[bytes] | None = None) -> None:
    """One instance: a level of columns x rows frames of frame x frame pixels, its offsets in
    a Basic or an Extended Offset Table or in none ('empty': readers walk the items). The
    frames cycle through `jpegs` (YCbCr, frame x frame), by default frame_jpegs: frame `i`
    is frame_of(level_frames(frame, jpegs), i)."""
    import pydicom

    if offset_table not in OFFSET_TABLES:
        raise ValueError(f"offset_table must be one of {OFFSET_TABLES}")
    jpegs = level_frames(frame, jpegs)
    count = columns * rows
    lengths = [len(frame_of(jpegs, i)) for i in range(count)]
    offsets = np.concatenate(([0], np.cumsum(np.array(lengths, np.uint64) + 8)[:-1]))
    ds = _dataset(columns, rows, frame, count)
    table = b""
    if offset_table == "eot":
        ds.ExtendedOffsetTable = offsets.astype("<u8").tobytes()
        ds.ExtendedOffsetTableLengths = np.array(lengths, "<u8").tobytes()
    elif offset_table == "bot":
        table = offsets.astype("<u4").tobytes()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        pydicom.dcmwrite(f, ds, enforce_file_format=True)
        f.write(_PIXEL_DATA_OB + _ITEM + struct.pack("<I", len(table)) + table)
        items = [_ITEM + struct.pack("<I", len(j)) + j for j in jpegs]
        # 1,024 frames at a time: a level of big frames is never whole in memory
        f.writelines(b"".join(items[i % len(items)] for i in range(start, min(count, start + 1024)))
                     for start in range(0, count, 1024))
        f.write(_SEQUENCE_END)


def ensure_frames_level(cache_dir: str, columns: int, rows: int, offset_table: str) -> str:
    """A cached write_frames_level file; its path."""
    path = os.path.join(cache_dir, f"dicom-frames-v{FRAMES_VERSION}",
                        f"{columns}x{rows}-{offset_table}", "level.dcm")
    if not os.path.isfile(path):
        fd, partial = tempfile.mkstemp(prefix=".tmp-", dir=_made(os.path.dirname(path)))
        os.close(fd)
        write_frames_level(partial, columns, rows, offset_table)
        os.replace(partial, path)
    return path


def _made(folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    return folder
