"""3DHistech MRXS: a slide `X.mrxs` whose data lies in the companion folder `X/`.

The folder holds Slidedat.ini (a key file), Index.dat (where every stored image lies) and the
data files Data0000.dat... with the camera images. Opening reads Slidedat.ini, Index.dat and
the camera position record, nothing else: the associated images' sizes are learnt when they
are read. Each level is a set of placed tiles (`formats.levels.PlacedTiles`), pieces of the
stored images placed at their camera photo's position as OpenSlide places them
(`mrxs_layout`); the pieces of a level are painted in OpenSlide's order.
"""

from collections.abc import Sequence

import numpy

from ..caches import BlockReader
from ..errors import CorruptSlide, UnsupportedFormat
from ..storage.joined import MEMBER_SHIFT, member_base
from . import mrxs_index, mrxs_layout, mrxs_slidedat
from .index import Encoding, Image, IntArray, Level, Pieces, SlideIndex
from .members import Members

SUFFIX = ".mrxs"
SLIDEDAT = "Slidedat.ini"
SLIDEDAT_LIMIT = 1 << 20   # as OpenSlide: a bigger key file is not a Slidedat.ini
INDEX_LIMIT = 64 << 20     # 4 million image records
# Photometric of each stored format as the decoders take it: JPEG images are JFIF (YCbCr).
_ENCODINGS = {"jpeg": Encoding("jpeg", "ycbcr"), "png": Encoding("png", "rgb"),
              "bmp": Encoding("bmp", "rgb")}


class Companion:
    """The members of an MRXS slide (`X.mrxs` and the objects of `X/`) by name, read through
    the joined block reader (member i at joined offset i << 40)."""

    def __init__(self, blocks: BlockReader, members: Members):
        self.blocks = blocks
        self.folder = members.slide_id[:-len(SUFFIX)] + "/"
        self.numbers = {info.id[len(self.folder):]: i for i, info in enumerate(members.objects)
                        if info.id.startswith(self.folder)}
        self.sizes = [info.size for info in members.objects]

    def member(self, name: str, what: str) -> int:
        number = self.numbers.get(name)
        if number is None:
            raise CorruptSlide(f"{what} {name!r} is missing from the folder {self.folder!r}")
        return number

    def at(self, name: str, offset: int, length: int, what: str) -> int:
        """The joined offset of `length` bytes at `offset` of `name`, checked to lie in it."""
        number = self.member(name, "the data file")
        if offset + length > self.sizes[number]:
            raise CorruptSlide(f"{what} lies past the end of {name} ({length} bytes at "
                               f"{offset}, the file has {self.sizes[number]})")
        return member_base(number) + offset

    def read(self, name: str, offset: int, length: int, what: str) -> bytes:
        return self.blocks.read(self.at(name, offset, length, what), length)

    def whole(self, name: str, limit: int) -> bytes:
        size = self.sizes[self.member(name, "the slide's")]
        if size > limit:
            raise CorruptSlide(f"{name} of an MRXS slide is {size} bytes, more than the "
                               f"{limit} expected")
        return self.read(name, 0, size, name)

    def record(self, record: mrxs_index.Record, data_files: tuple[str, ...], what: str) -> int:
        """The joined offset of a record of Index.dat."""
        return self.at(data_files[record.file], record.offset, record.length,
                       f"{what} (as Index.dat places it)")

    def records(self, records: mrxs_index.LevelRecords, data_files: tuple[str, ...],
                what: str) -> numpy.ndarray:
        """The joined offsets of a level's records, each checked to lie in its data file."""
        members = numpy.array([self.member(name, "the data file") for name in data_files])
        sizes = numpy.array(self.sizes, numpy.int64)[members][records.file]
        past = numpy.flatnonzero(records.offset + records.length > sizes)
        if len(past):
            i = past[0]
            raise CorruptSlide(f"{what} (as Index.dat places it) lies past the end of "
                               f"{data_files[records.file[i]]} ({records.length[i]} bytes at "
                               f"{records.offset[i]}, the file has {sizes[i]})")
        return (members[records.file] << MEMBER_SHIFT) + records.offset


def read_slidedat(companion: Companion) -> mrxs_slidedat.Slidedat:
    if SLIDEDAT not in companion.numbers:
        raise UnsupportedFormat(f"an MRXS slide X.mrxs needs its folder X/ with a {SLIDEDAT}: "
                                f"there is none in {companion.folder!r}")
    raw = companion.whole(SLIDEDAT, SLIDEDAT_LIMIT)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if "[GENERAL]" not in text or "[HIERARCHICAL]" not in text:
        raise UnsupportedFormat("the MRXS companion's Slidedat.ini is not a MIRAX key file "
                                "(no [GENERAL] and [HIERARCHICAL] groups)")
    return mrxs_slidedat.parse(text)


def _positions(companion: Companion, slidedat: mrxs_slidedat.Slidedat,
               index: mrxs_index.IndexFile) -> tuple[Sequence[tuple[int, int]], bool]:
    """The photo positions in level-0 pixels, and whether they were measured."""
    if slidedat.position_record is None:
        return mrxs_layout.NominalPositions(slidedat), False
    if mrxs_layout.photo_count(slidedat) > mrxs_layout.MAX_PIECES:
        raise CorruptSlide(f"Slidedat.ini makes {mrxs_layout.photo_count(slidedat)} camera "
                           "photos, more than a slide can place")
    record = index.nonhier_record(slidedat.position_record, "camera positions")
    data = companion.read(slidedat.data_files[record.file], record.offset, record.length,
                          "the camera position record (as Index.dat places it)")
    concat = 1 << slidedat.levels[0].concat_exponent
    return mrxs_index.camera_positions(data, slidedat.positions_compressed,
                                       mrxs_layout.photo_count(slidedat), concat), True


def _inline(values: list[int]) -> IntArray:
    return IntArray(len(values), tuple(values))


def _level(section: mrxs_slidedat.ZoomLevel, placed: mrxs_layout.LevelLayout,
           offsets: numpy.ndarray, lengths: numpy.ndarray) -> Level:
    """The index's level from its pieces; `offsets` and `lengths` per record of the level."""
    layout = Pieces(
        tile_width=placed.piece[0], tile_height=placed.piece[1],
        image_width=section.image_size[0], image_height=section.image_size[1],
        parts_per_side=placed.parts_per_side,
        offsets=_inline(offsets[placed.records].tolist()),
        byte_counts=_inline(lengths[placed.records].tolist()),
        parts=_inline(placed.parts.tolist() if placed.parts_per_side > 1 else []))
    return Level(width=placed.size[0], height=placed.size[1],
                 encoding=_ENCODINGS[section.image_format], layout=layout,
                 downsample=placed.downsample, scale=(placed.downsample, placed.downsample),
                 positions=tuple(map(tuple, placed.positions.tolist())))


def _associated(companion: Companion, index: mrxs_index.IndexFile,
                slidedat: mrxs_slidedat.Slidedat) -> dict[str, Image]:
    """The label, macro and thumbnail, each one JPEG whose size is learnt when it is read."""
    images = {}
    for name, number in slidedat.associated.items():
        record = index.nonhier_record(number, name)
        offset = companion.record(record, slidedat.data_files, f"the {name} image")
        layout = Pieces(tile_width=0, tile_height=0, image_width=0, image_height=0,
                        parts_per_side=1, offsets=_inline([offset]),
                        byte_counts=_inline([record.length]), parts=_inline([]))
        images[name] = Image(width=0, height=0, encoding=_ENCODINGS["jpeg"], layout=layout)
    return images


def parse(blocks: BlockReader, members: Members) -> SlideIndex:
    """The index of the MRXS slide whose members `blocks` reads joined."""
    companion = Companion(blocks, members)
    slidedat = read_slidedat(companion)
    for name in slidedat.data_files:
        companion.member(name, "the data file")
    index = mrxs_index.IndexFile(companion.whole(slidedat.index_file, INDEX_LIMIT),
                                 slidedat.slide_id, len(slidedat.data_files))
    positions, measured = _positions(companion, slidedat, index)
    records = [index.level_records(z) for z in range(len(slidedat.levels))]
    placed = mrxs_layout.layout(slidedat, positions, measured, records)
    levels = []
    for z, (section, level) in enumerate(zip(slidedat.levels, placed)):
        if not len(level.records):
            raise CorruptSlide(f"level {z} of the MRXS slide has no stored image")
        offsets = companion.records(records[z], slidedat.data_files, f"an image of level {z}")
        levels.append(_level(section, level, offsets, records[z].length))
    base = slidedat.levels[0]
    fill = "".join(f"{c:02X}" for c in base.fill_rgb)
    return SlideIndex(
        format="mirax", levels=tuple(levels), mpp=base.mpp if min(base.mpp) > 0 else None,
        objective_power=slidedat.objective_power,
        properties={**slidedat.properties, "openslide.background-color": fill},
        phi_properties=slidedat.phi_properties,
        associated=_associated(companion, index, slidedat), fill=base.fill_rgb,
        files=members.ids)
