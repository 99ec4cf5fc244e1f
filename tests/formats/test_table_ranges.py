import tifffile

import synthetic
from helpers import testdata_path
from slide_access import open_slide


def test_table_ranges_are_the_stored_tile_tables(tmp_path):
    source = synthetic.source_pixels(testdata_path("CMU-1-Small-Region.svs"))[:1200, :1000]
    synthetic.write_pyramid(str(tmp_path / "p.tiff"), source, "zlib", (1, 2), tile=64)
    slide = open_slide(f"file://{tmp_path}", "p.tiff")
    ranges = sorted(slide.table_ranges())
    with tifffile.TiffFile(tmp_path / "p.tiff") as tiff:
        page = tiff.pages[0]  # 16 x 19 = 304 tiles: more than the index keeps inline
        assert len(page.dataoffsets) > 256
        expected = [(page.tags[code].valueoffset, page.tags[code].valuebytecount)
                    for code in (324, 325)]  # TileOffsets, TileByteCounts
    assert [r for r in ranges if r[0] in {e[0] for e in expected}] == sorted(expected)
    data = slide.blocks.read_many(ranges)
    assert all(len(d) == length for d, (_, length) in zip(data, ranges))
