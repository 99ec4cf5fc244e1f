"""A synthetic Aperio slide carrying ICC profiles (TIFF tag 34675), written with tifffile.

Level 0 and its reduced level carry the slide's profile, the label another one, the macro
none: what colour management must tell apart. The pixels are saturated patches and smooth
ramps, so that a strong profile moves every one of them far.
"""

import numpy as np
import tifffile

from wsi_blueprint.imaging import jpeg_markers
from wsi_blueprint.imaging.icc_embed import is_icc_segment

ICC_TAG = 34675
WIDTH, HEIGHT, TILE = 1024, 768, 256
FACTOR = 4  # the reduced level
DESCRIPTION = ("Aperio Image Library v12.0.15 \r\n{w}x{h} [0,0 {w}x{h}] (256x256) JPEG/RGB Q=90"
               "|AppMag = 20|MPP = 0.4990|ScanScope ID = SYNTHETIC")


def pattern(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Ramps of red and green across and down, blue patches of four strengths, and pure red,
    green, blue and white squares."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // (width - 1), y * 255 // (height - 1),
                       (x // 128 % 4) * 80], axis=-1).astype(np.uint8)
    for i, colour in enumerate([(230, 30, 30), (30, 200, 40), (40, 40, 220), (250, 250, 250)]):
        pixels[64:192, 96 + 224 * i:224 + 224 * i] = colour
    return pixels


def _icc(profile: bytes | None) -> list:
    return [(ICC_TAG, 7, len(profile), profile, True)] if profile else []


def write_slide(path: str, profile: bytes, label_profile: bytes | None = None) -> np.ndarray:
    """Writes the slide; returns level 0's pixels as stored (before JPEG)."""
    pixels = pattern()
    reduced = np.ascontiguousarray(pixels[::FACTOR, ::FACTOR])
    label = np.ascontiguousarray(pixels[:200, :300])
    with tifffile.TiffWriter(path) as tif:
        for i, level in enumerate((pixels, reduced)):
            tif.write(level, tile=(TILE, TILE), compression="jpeg", compressionargs={"level": 90},
                      photometric="rgb", subsampling=(1, 1), metadata=None,
                      description=DESCRIPTION.format(w=level.shape[1], h=level.shape[0]),
                      extratags=_icc(profile))
            if i == 0:
                tif.write(np.ascontiguousarray(pixels[::8, ::8]), rowsperstrip=16,
                          compression="jpeg", photometric="rgb", metadata=None,
                          description="Aperio Image Library v12.0.15 \nthumbnail")
        tif.write(label, rowsperstrip=20, compression="lzw", subfiletype=1, metadata=None,
                  description="Aperio Image Library v12.0.15 \nlabel 300x200",
                  extratags=_icc(label_profile))
        tif.write(np.ascontiguousarray(pixels[::4, ::4][:150]), rowsperstrip=16,
                  compression="jpeg", subfiletype=9, metadata=None,
                  description="Aperio Image Library v12.0.15 \nmacro")
    return pixels


def without_icc(stream: bytes) -> bytes:
    """The JPEG stream with its APP2 ICC_PROFILE segments cut out."""
    pieces, pos = [], 0
    for segment in jpeg_markers.header_segments(stream):
        if is_icc_segment(segment):
            pieces.append(stream[pos:segment.start])
            pos = segment.end
    return b"".join(pieces) + stream[pos:]
