"""Pieces of one stored image (MRXS) in one region: the image is decoded once and each piece
cut out of it, giving the pixels each piece decodes to on its own."""

import io

import numpy as np
import pytest
from PIL import Image

from wsi_blueprint.formats import EncodedTile
from wsi_blueprint.imaging import region
from wsi_blueprint.imaging.decode import decode


@pytest.mark.parametrize("reduce", [1, 2, 4])
def test_pieces_of_one_image_decode_once_to_the_same_pixels(reduce):
    pixels = np.random.default_rng(7).integers(0, 255, (128, 128, 3), np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    data = out.getvalue()
    pieces = [EncodedTile(data, "jpeg", 128, 128, 32, 32, "ycbcr", x=10 * i, y=3 * i,
                          source_x=32 * (i % 4), source_y=32 * (i // 4)) for i in range(16)]
    alone = EncodedTile(bytes(bytearray(data)), "jpeg", 128, 128, 128, 128, "ycbcr")
    payloads, cuts = region._shared_payloads(pieces + [alone])
    assert len(payloads) == 2  # the shared image once, the equal copy on its own
    decoded = [decode(payload, reduce) for payload in payloads]
    for piece, cut in zip(pieces + [alone], region._cut(decoded, cuts, reduce)):
        assert np.array_equal(cut, decode(piece, reduce))
