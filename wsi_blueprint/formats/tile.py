"""What the formats layer hands to imaging: one stored tile, still compressed.

Formats know where bytes live and how they were written; imaging knows how to pass them through,
decode, resample and encode. This record is the whole of what crosses between the two.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EncodedTile:
    # A self-contained compressed payload: for JPEG a complete stream (tables already spliced
    # into abbreviated streams); for other codecs the raw TIFF segment.
    data: bytes
    compression: str      # 'jpeg', 'jpeg2000', 'jpegls', 'rle' (DICOM's), 'deflate', 'lzw',
    #                       'webp', 'zstd', 'none', and whole 'png' or 'bmp' images (MRXS)
    width: int            # size the payload decodes to: a full tile, also at the image edge,
    height: int           # except strips and NDPI virtual tiles, which stop at the edge
    valid_width: int      # pixels of it inside the image (smaller on right/bottom edge tiles)
    valid_height: int
    photometric: str      # 'rgb', 'ycbcr', 'minisblack' - the colour space of the stored data
    samples: int = 3      # samples per pixel as stored
    bits: int = 8         # bits per sample
    predictor: int = 1    # TIFF predictor (1 none, 2 horizontal, 3 floating point)
    sparse: bool = False  # no data stored (zero byte count): imaging paints background
    x: int = 0            # pixel position of the tile's top-left corner in its image
    y: int = 0            # (a level, or an associated image read as several pieces)
    source_x: int = 0     # where the tile's pixels start in what the payload decodes to: a
    source_y: int = 0     # piece of a larger stored image (MRXS, one piece per camera photo)

    @property
    def is_edge(self) -> bool:
        return (self.valid_width, self.valid_height) != (self.width, self.height)
