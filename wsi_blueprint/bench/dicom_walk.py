"""What opening a DICOM level of 50 000 frames costs from S3, by how its frames are indexed.

One instance of `--frames` JPEG frames (a 256 px tile of the benchmark's source, repeated) is
written three times: with an Extended Offset Table, with a Basic Offset Table, and with none
(the reader walks the item headers). Each is opened from the simulated S3 (40 ms first-byte
latency, 100 MB/s per connection) through the real data path, cold, and reported: the open's
time, store requests and bytes, the size of the cached index, and a tile read after it.

    python -m wsi_blueprint.bench.dicom_walk [--frames 50000] [--workdir DIR]
"""

import argparse
import json
import math
import os
import tempfile
import time

import imagecodecs
import numpy
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from ..settings import Settings
from ..state import WSIState
from .s3sim import SimulatedS3
from .slidegen import find_testdata, source_mosaic

WSI = "1.2.840.10008.5.1.4.1.1.77.1.6"
TILE = 256
ITEM, SEQUENCE_END = b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0"


def _frame() -> bytes:
    mosaic = source_mosaic(find_testdata())[0]  # a tile of tissue, not of glass
    pixels = numpy.ascontiguousarray(mosaic[TILE * 4:TILE * 5, TILE * 3:TILE * 4])
    frame = imagecodecs.jpeg8_encode(pixels, level=80, colorspace="RGB", outcolorspace="YCbCr",
                                     subsampling="422")
    return frame + b"\0" * (len(frame) % 2)  # items are even


def _header(frames: int, columns: int, table: str, frame: bytes) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = WSI
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = WSI, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID, ds.Modality = generate_uid(), "SM"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.Rows = ds.Columns = TILE
    ds.TotalPixelMatrixColumns = columns * TILE
    ds.TotalPixelMatrixRows = math.ceil(frames / columns) * TILE
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, \
        "YBR_FULL_422", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.DimensionOrganizationType = "TILED_FULL"
    if table == "extended":
        offsets = numpy.arange(frames, dtype="<u8") * (len(frame) + 8)
        ds.ExtendedOffsetTable = offsets.tobytes()
        ds.ExtendedOffsetTableLengths = numpy.full(frames, len(frame), "<u8").tobytes()
    return ds


def write_level(path: str, frames: int, table: str) -> int:
    """A one-level instance of `frames` frames (a grid of whole rows of tiles); its size."""
    frame = _frame()
    columns = math.ceil(math.sqrt(frames))
    frames = columns * (frames // columns)
    pydicom.dcmwrite(path, _header(frames, columns, table, frame), enforce_file_format=True)
    item = ITEM + len(frame).to_bytes(4, "little") + frame
    with open(path, "ab") as file:
        file.write(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")  # Pixel Data, encapsulated
        bot = (numpy.arange(frames, dtype="<u4") * len(item)).tobytes() \
            if table == "basic" else b""
        file.write(ITEM + len(bot).to_bytes(4, "little") + bot)
        for _ in range(frames):
            file.write(item)
        file.write(SEQUENCE_END + b"\0\0\0\0")
    return os.path.getsize(path)


def measure(endpoint: str, bucket: str, slide_id: str) -> dict:
    state = WSIState.build(Settings.from_mapping({
        "WSI_STORE": f"s3://{bucket}", "WSI_S3_ENDPOINT_URL": endpoint}))
    counters = state.counters
    began = time.perf_counter()
    slide = state.library.open(slide_id)
    opened = time.perf_counter()
    requests, size = counters.get("store_requests"), counters.get("store_bytes")
    columns, rows = slide.tile_grid(0)
    slide.read_tiles(0, [(columns - 1, rows - 1)])
    done = time.perf_counter()
    return {"open_ms": round((opened - began) * 1000), "open_requests": requests,
            "open_mb": round(size / 1e6, 1),
            "index_kb": round(len(slide.index.to_bytes()) / 1e3, 1),
            "tile_ms": round((done - opened) * 1000), "tile_requests":
                counters.get("store_requests") - requests}


def run(frames: int, workdir: str) -> list[dict]:
    # The simulated S3 checks no signature, but botocore signs only with some credentials.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    bucket = "dicom-walk"
    os.makedirs(os.path.join(workdir, bucket), exist_ok=True)
    sizes = {}
    for table in ("extended", "basic", "none"):
        os.makedirs(os.path.join(workdir, bucket, table), exist_ok=True)
        sizes[table] = write_level(os.path.join(workdir, bucket, table, "level0.dcm"),
                                   frames, table)
    store = SimulatedS3(workdir, latency_ms=40.0, bandwidth_mbps=100.0).start()
    try:
        return [{"offset_table": table, "frames": frames, "file_mb": round(size / 1e6),
                 **measure(store.endpoint, bucket, table)} for table, size in sizes.items()]
    finally:
        store.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        for row in run(args.frames, args.workdir or scratch):
            print(json.dumps(row))


if __name__ == "__main__":
    main()
