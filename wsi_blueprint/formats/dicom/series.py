"""A DICOM series: the instances of a folder grouped by SeriesInstanceUID into one slide."""

from ...caches import BlockReader
from ...errors import UnsupportedFormat
from ..index import SlideIndex
from ..members import Members


def parse_series(blocks: BlockReader, members: Members) -> SlideIndex:
    raise UnsupportedFormat("DICOM series are not read yet")
