"""One DICOM instance's header, read by pydicom through the block cache up to its pixel data.

pydicom parses the meta header and the dataset (every VR, implicit or explicit, nested
sequences) from a file over the member's bytes and stops before the pixel data; what the
series needs of it is copied into an `Instance`. The pixel data itself is located here and
read by `frames`.
"""

import dataclasses

import pydicom
import pydicom.errors
from pydicom.dataset import Dataset

from ...caches import BlockReader
from ...errors import CorruptSlide, UnsupportedFormat
from ...storage.joined import member_base
from ..rangefile import RangeFile

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"  # VL Whole Slide Microscopy Image Storage
IMPLICIT_VR = "1.2.840.10008.1.2"
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010), little-endian


class _BlockWindowFile(RangeFile):
    """pydicom reads element by element: each read is served from the rest of the block it
    falls in (a block is fetched and cached whole anyway), so the thousands of elements of a
    sparse instance's per-frame groups cost a few block-cache lookups, not one each."""

    def __init__(self, blocks: BlockReader, start: int, size: int):
        super().__init__(blocks, start, size)
        self._window, self._window_at = b"", 0

    def read(self, size: int = -1) -> bytes:
        start = self._position
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        if end <= start:
            return b""
        if not self._window_at <= start <= end <= self._window_at + len(self._window):
            block = self._blocks.block_size
            block_end = ((self._start + start) // block + 1) * block - self._start
            self._window = self._blocks.read(self._start + start,
                                             min(self.size, max(end, block_end)) - start)
            self._window_at = start
        self._position = end
        return self._window[start - self._window_at:end - self._window_at]


class NotAnInstance(Exception):
    """A member that is no DICOM file at all (a stray file in the series' folder)."""


@dataclasses.dataclass
class Instance:
    member: int
    id: str
    dataset: Dataset
    transfer_syntax: str
    pixel_at: int       # offset of the Pixel Data element in the member
    size: int           # the member's size

    @property
    def base(self) -> int:
        return member_base(self.member)

    @property
    def role(self) -> str:
        """ImageType's third value: VOLUME, LABEL, OVERVIEW or THUMBNAIL."""
        image_type = self.dataset.get("ImageType") or []
        return str(image_type[2]).upper() if len(image_type) > 2 else ""

    @property
    def series_uid(self) -> str:
        return str(self.dataset.get("SeriesInstanceUID", ""))

    @property
    def size_in_pixels(self) -> tuple[int, int]:
        """(width, height) of the whole image: the total pixel matrix, else one frame."""
        ds = self.dataset
        return (int(ds.get("TotalPixelMatrixColumns") or required(ds, "Columns")),
                int(ds.get("TotalPixelMatrixRows") or required(ds, "Rows")))

    @property
    def frame_count(self) -> int:
        return int(self.dataset.get("NumberOfFrames") or 1)


def required(ds: Dataset, keyword: str):
    value = ds.get(keyword)
    if value is None or value == "":
        raise CorruptSlide(f"a DICOM instance lacks {keyword}")
    return value


def read_instance(blocks: BlockReader, member: int, member_id: str, size: int) -> Instance:
    """The header of member `member`; NotAnInstance for a file without the DICOM preamble,
    UnsupportedFormat for DICOM of another kind than a whole-slide image."""
    file = _BlockWindowFile(blocks, member_base(member), size)
    try:
        ds = pydicom.dcmread(file, stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError:
        raise NotAnInstance(member_id) from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CorruptSlide(f"DICOM instance {member_id!r} has a broken header "
                           f"({type(exc).__name__}: {str(exc)[:200]})") from None
    pixel_at = file.tell()
    sop_class = str(ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
    if sop_class and sop_class != WSI_SOP_CLASS:
        raise UnsupportedFormat(f"DICOM instance {member_id!r} is of SOP class {sop_class!r}, "
                                f"not VL Whole Slide Microscopy Image ({WSI_SOP_CLASS})")
    if pixel_at + 8 > size or blocks.read(member_base(member) + pixel_at, 4) != PIXEL_DATA_TAG:
        raise CorruptSlide(f"DICOM instance {member_id!r} has no pixel data (truncated?)")
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if not sop_class or not syntax:
        raise CorruptSlide(f"DICOM instance {member_id!r} lacks its SOP class or transfer "
                           "syntax")
    return Instance(member, member_id, ds, syntax, pixel_at, size)
