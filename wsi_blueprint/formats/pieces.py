"""Reading tiles of a `Pieces` layout: whole stored images, each tile a piece of one placed on
its own (MRXS).

A tile's payload is its whole stored image; the tile says which part of it is the piece
(`EncodedTile.source_x`, `source_y`) and where the piece goes (`x`, `y`). All the images of one
call are fetched with one `read_many`; pieces of one image share its bytes.
"""

from ..caches import BlockReader
from ..errors import CorruptSlide
from .index import Image, Pieces
from .jpeg_stream import frame_of
from .tile import EncodedTile

# Bytes beyond which a stored image is not believed (a 4096 px RGB image, raw, and a margin).
IMAGE_LIMIT = 3 * 4096 * 4096 + 64 * 1024


def ranges(layout: Pieces, indices: list[int]) -> list[tuple[int, int]]:
    """(offset, length) of each tile's image."""
    found = [(layout.offsets.values[i], layout.byte_counts.values[i]) for i in indices]
    for _, length in found:
        if length > IMAGE_LIMIT:
            raise CorruptSlide(f"a stored image of {length} bytes (at most {IMAGE_LIMIT} "
                               "expected)")
    return found


def read(blocks: BlockReader, image: Image, indices: list[int]) -> list[EncodedTile]:
    """The tiles numbered `indices`, placed at `image.positions` (an associated image has
    none: it is one tile at 0, 0)."""
    layout = image.layout
    wanted = ranges(layout, indices)
    unique = sorted(set(wanted))
    datas = dict(zip(unique, blocks.read_many(unique)))
    positions = getattr(image, "positions", None)
    tiles = []
    for index, key in zip(indices, wanted):
        data = datas[key]
        width, height = layout.image_width, layout.image_height
        piece = (layout.tile_width, layout.tile_height)
        if not width:  # an image whose size is learnt when it is read
            frame = frame_of(data)
            width, height = piece = frame.width, frame.height
        source = layout.source(index)
        x, y = positions[index] if positions else (0, 0)
        tiles.append(EncodedTile(
            data=data, compression=image.encoding.compression, width=width, height=height,
            valid_width=min(piece[0], width - source[0]),
            valid_height=min(piece[1], height - source[1]),
            photometric=image.encoding.photometric, x=x, y=y, source_x=source[0],
            source_y=source[1]))
    return tiles
