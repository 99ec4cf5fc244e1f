"""Synthetic Philips TIFF, Leica SCN and Ventana BIF slides that OpenSlide reads as those vendors.

No small public samples of these formats exist. These follow each vendor's layout (the XML and
directories OpenSlide's readers look for) closely enough that OpenSlide recognises and reads
them, from the pixels of CMU-1-Small-Region.svs. JPEG tiles are YCbCr with shared tables, as
the scanners write them. Each writer returns what the tests need to know about the layout.
"""

import base64
import io

import numpy
import PIL.Image
import tifffile

import synthetic

WHITE = 255


def shrunk(image: numpy.ndarray, factors: tuple[int, ...]) -> list[numpy.ndarray]:
    """Reduced copies by area averages, as scanners shrink their levels (plain subsampling
    aliases, and resampled views of aliased levels differ by the filter more than by
    placement)."""
    levels = []
    for f in factors:
        height, width = -(-image.shape[0] // f), -(-image.shape[1] // f)
        edge = numpy.pad(image, ((0, height * f - image.shape[0]),
                                 (0, width * f - image.shape[1]), (0, 0)), mode="edge")
        levels.append(edge.reshape(height, f, width, f, 3).mean(axis=(1, 3)).round()
                      .astype(numpy.uint8))
    return levels


def padded(image: numpy.ndarray, tile: int) -> numpy.ndarray:
    """The image padded with white to whole tiles, as Philips stores its levels."""
    height, width = image.shape[:2]
    out = numpy.full((-(-height // tile) * tile, -(-width // tile) * tile, 3), WHITE,
                     numpy.uint8)
    out[:height, :width] = image
    return out


def write_jpeg_tiles(tif: tifffile.TiffWriter, image: numpy.ndarray, tile: int,
                     missing: frozenset = frozenset(), **options) -> None:
    """A tiled YCbCr JPEG directory with shared tables; tiles at row-major indices in
    `missing` are written with no data (byte count 0; `zero_offsets` then sets their
    offsets to 0 too)."""
    streams = [synthetic.encode_jpeg(t, "ycbcr") for t in synthetic.tiles_of(image, tile)]
    tables, tiles = synthetic.split_tables(streams, aperio_ids=False)
    data = [b"" if i in missing else t for i, t in enumerate(tiles)]
    tif.write(iter(data), shape=image.shape, dtype=numpy.uint8, tile=(tile, tile),
              compression=7, photometric="rgb", jpegtables=tables,
              compressionargs={"outcolorspace": "ycbcr"}, subsampling=(2, 2), metadata=None,
              **options)


def zero_offsets(path: str) -> None:
    """Unstored tiles (byte count 0) get offset 0 too, as Philips writes them."""
    with tifffile.TiffFile(path) as tiff:
        patches = []
        for page in tiff.pages:
            if page.is_tiled:
                tag = page.tags[324]
                dtype = numpy.dtype(tiff.byteorder + {16: "u8", 4: "u4"}[int(tag.dtype)])
                patches += [(tag.valueoffset + i * dtype.itemsize, dtype)
                            for i, count in enumerate(page.databytecounts) if count == 0]
    with open(path, "r+b") as f:
        for at, dtype in patches:
            f.seek(at)
            f.write(numpy.zeros(1, dtype).tobytes())


def jpeg_bytes(image: numpy.ndarray) -> bytes:
    out = io.BytesIO()
    PIL.Image.fromarray(image).save(out, "JPEG", quality=90)
    return out.getvalue()


# -- Philips TIFF ---------------------------------------------------------------------------

def _attribute(name: str, value: str) -> str:
    return f'<Attribute Name="{name}" Group="0x0" Element="0x0" PMSVR="IString">{value}</Attribute>'


def philips_xml(spacings_mm: list[float], derivation: str = "levels=20,10,5",
                macro: bytes | None = None, wsi_images: int = 1) -> str:
    """The DPUfsImport document: one WSI scanned image with a pixel data representation per
    level ('"row" "column"' spacing in mm), optionally a macro scanned image in base64."""
    representations = "".join(
        f'<DataObject ObjectType="PixelDataRepresentation">'
        f'{_attribute("DICOM_PIXEL_SPACING", f"&quot;{s:g}&quot; &quot;{s:g}&quot;")}'
        f'{_attribute("PIIM_PIXEL_DATA_REPRESENTATION_NUMBER", str(i))}</DataObject>'
        for i, s in enumerate(spacings_mm))
    wsi = ('<DataObject ObjectType="DPScannedImage">'
           + _attribute("DICOM_DERIVATION_DESCRIPTION", derivation)
           + _attribute("DICOM_PIXEL_SPACING",
                        f"&quot;{spacings_mm[0]:g}&quot; &quot;{spacings_mm[0]:g}&quot;")
           + _attribute("PIM_DP_IMAGE_TYPE", "WSI")
           + f'<Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE" Group="0x1" '
             f'Element="0x1" PMSVR="IDataObjectArray"><Array>{representations}</Array>'
             f'</Attribute></DataObject>') * wsi_images
    extra = ""
    if macro is not None:
        extra = ('<DataObject ObjectType="DPScannedImage">'
                 + _attribute("PIM_DP_IMAGE_TYPE", "MACROIMAGE")
                 + _attribute("PIM_DP_IMAGE_DATA", base64.b64encode(macro).decode())
                 + "</DataObject>")
    return ('<?xml version="1.0" encoding="UTF-8" ?>\n<DataObject ObjectType="DPUfsImport">'
            + _attribute("DICOM_MANUFACTURER", "PHILIPS")
            + _attribute("DICOM_SOFTWARE_VERSIONS", "&quot;1.6.5505&quot;")
            + _attribute("PIM_DP_UFS_BARCODE", "MTIzNDU=")
            + '<Attribute Name="PIM_DP_SCANNED_IMAGES" Group="0x1" Element="0x2" '
              f'PMSVR="IDataObjectArray"><Array>{wsi}{extra}</Array></Attribute>'
            + "</DataObject>")


# Unstored tiles of a 1024 x 768 slide in 256 px tiles (level: row-major indices): the
# top-right quarter is background at levels 0 and 1, one more tile at level 0.
PHILIPS_MISSING = {0: frozenset({2, 3, 6, 7, 8}), 1: frozenset({1})}
PHILIPS_BLANK = ((0, 512, 512, 1024), (512, 768, 0, 256))  # level-0 rows, columns made white


def write_philips(path: str, source: numpy.ndarray, xml: str | None = None,
                  tile: int = 256, factors: tuple[int, ...] = (1, 2, 4)) -> dict:
    """Levels at `factors` of `source`, each padded to whole tiles, with the tiles in
    PHILIPS_MISSING unstored and the PHILIPS_BLANK areas white at every level, as a scanner
    leaves the background between scanned areas; the label as a strip directory, the macro
    as a base64 JPEG in the XML. The XML gives a pixel spacing of 0.25 um at level 0."""
    source = source.copy()
    for top, bottom, left, right in PHILIPS_BLANK:
        source[top:bottom, left:right] = WHITE
    levels = shrunk(source, factors)
    label = numpy.ascontiguousarray(source[:200, :300])
    macro = numpy.ascontiguousarray(source[::4, ::4])
    xml = xml or philips_xml([0.00025 * f for f in factors], macro=jpeg_bytes(macro))
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for i, level in enumerate(levels):
            write_jpeg_tiles(tif, padded(level, tile), tile, PHILIPS_MISSING.get(i, frozenset()),
                             subfiletype=1 if i else 0, software="Philips DP v1.0",
                             description=xml if i == 0 else "level")
        tif.write(label, rowsperstrip=16, compression="jpeg", photometric="rgb",
                  description="Label", software="Philips DP v1.0", metadata=None)
    zero_offsets(path)
    return {"levels": levels, "label": label, "macro": macro, "tile": tile}


# -- Leica SCN ------------------------------------------------------------------------------

SCN_NS = "http://www.leica-microsystems.com/scn/2010/10/01"
SCN_NM_PER_PIXEL = 500                 # level 0 of the regions: 0.5 um
SCN_CANVAS = (1200, 1000)              # the collection in level-0 pixels
# Two regions: level-0 offset and size in pixels, and where their pixels come from.
SCN_REGIONS = (((100, 80), (512, 384), (900, 500)), ((650, 600), (400, 300), (1700, 1500)))


def _scn_image(name: str, view: tuple, dimensions: list[tuple[int, int, int]],
               illumination: str = "brightfield", z: str = "0") -> str:
    x, y, width, height = view
    pixels = "".join(f'<dimension sizeX="{w}" sizeY="{h}" r="{r}" ifd="{ifd}" z="{z}"/>'
                     for r, (ifd, w, h) in enumerate(dimensions))
    return (f'<image name="{name}" uuid="urn:uuid:{name}"><creationDate>2012-03-01T10:00:00Z'
            f'</creationDate><device model="Leica SCN400;Leica SCN" version="1.4.0"/>'
            f'<pixels sizeX="{dimensions[0][1]}" sizeY="{dimensions[0][2]}">{pixels}</pixels>'
            f'<view sizeX="{width}" sizeY="{height}" offsetX="{x}" offsetY="{y}" spacingZ="0"/>'
            f'<scanSettings><objectiveSettings><objective>20</objective></objectiveSettings>'
            f'<illuminationSettings><numericalAperture>0.7</numericalAperture>'
            f'<illuminationSource>{illumination}</illuminationSource></illuminationSettings>'
            f'</scanSettings></image>')


def write_scn(path: str, source: numpy.ndarray, tile: int = 256, levels: int = 3,
              second_illumination: str = "brightfield", z: str = "0",
              drop: str = "", placed: tuple = SCN_REGIONS) -> dict:
    """A collection of SCN_CANVAS pixels at 0.5 um: a macro image covering it (directory 0,
    carrying the XML) and the regions `placed` (level-0 offset, size, where the pixels come
    from), each a pyramid of `levels` halvings, edge tiles
    padded with black (which must never show). `drop` removes that text from the XML."""
    nm = SCN_NM_PER_PIXEL
    canvas = (SCN_CANVAS[0] * nm, SCN_CANVAS[1] * nm)
    macro = numpy.ascontiguousarray(source[:SCN_CANVAS[1]:4, :SCN_CANVAS[0]:4])
    regions, images, directory = [], [], 1
    for n, ((x, y), (width, height), (sy, sx)) in enumerate(placed):
        pixels = source[sy:sy + height, sx:sx + width]
        pyramid = shrunk(pixels, tuple(2 ** i for i in range(levels)))
        dimensions = [(directory + i, p.shape[1], p.shape[0]) for i, p in enumerate(pyramid)]
        directory += levels
        images.append(_scn_image(f"region{n}", (x * nm, y * nm, width * nm, height * nm),
                                 dimensions, second_illumination if n else "brightfield", z))
        regions.append(pyramid)
    macro_image = _scn_image("macro", (0, 0, *canvas),
                             [(0, macro.shape[1], macro.shape[0])])
    xml = (f'<?xml version="1.0" encoding="utf-8"?>\n<scn xmlns="{SCN_NS}"><collection '
           f'name="synthetic" uuid="urn:uuid:c" sizeX="{canvas[0]}" sizeY="{canvas[1]}">'
           f'<barcode>MTIzNDU=</barcode>{macro_image}{"".join(images)}</collection></scn>')
    xml = xml.replace(drop, "") if drop else xml
    resolution = ((10 ** 7 // nm, 1), (10 ** 7 // nm, 1))  # pixels per cm at level 0
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        write_jpeg_tiles(tif, macro, tile, description=xml, software="Leica SCN",
                         resolution=((10 ** 7 // (4 * nm), 1), (10 ** 7 // (4 * nm), 1)),
                         resolutionunit=3)
        for pyramid in regions:
            for i, level in enumerate(pyramid):
                write_jpeg_tiles(tif, level, tile, software="Leica SCN",
                                 resolution=resolution if i == 0 else None,
                                 resolutionunit=3 if i == 0 else None)
    return {"regions": regions, "macro": macro}


# -- Ventana BIF ----------------------------------------------------------------------------

BIF_TILE = 256
BIF_OVERLAP = (16, 12)  # the confidence-weighted mean overlaps the joints below give
# Scanned areas: start column and row on the stored grid, columns, rows, and Pos-X, Pos-Y
# (level-0 pixels, y from the bottom of the glass to the area's bottom).
BIF_AREAS = ((0, 0, 3, 3, 0, 0), (4, 1, 2, 2, 1000, 300))
# (overlap, confidence) of the joints in the order written; the last has no confidence.
BIF_RIGHT = ((12, 10), (20, 10), (16, 80), (14, 50), (18, 50), (16, 100), (16, 100), (90, 0))
BIF_UP = ((10, 25), (14, 25), (12, 100), (12, 50), (11, 50), (13, 50), (12, 100), (60, 0))
BIF_GRID = (6, 3)  # stored level-0 tiles


def serpentine(column: int, row: int, columns: int, rows: int) -> int:
    """The 1-based joint number of an area's tile: from the bottom left, every other row
    right to left."""
    from_bottom = rows - 1 - row
    across = column if from_bottom % 2 == 0 else columns - 1 - column
    return from_bottom * columns + across + 1


def bif_positions() -> dict:
    """(area, column, row) -> level-0 position of each field (y from the top), as OpenSlide
    places it: the advance is the tile size less the mean overlap."""
    advance = (BIF_TILE - BIF_OVERLAP[0], BIF_TILE - BIF_OVERLAP[1])
    heights = [(rows - 1) * advance[1] + BIF_TILE for _, _, _, rows, _, _ in BIF_AREAS]
    top = max(area[5] + h for area, h in zip(BIF_AREAS, heights))
    return {(n, c, r): (x + c * advance[0], top - y - h + r * advance[1])
            for n, ((_, _, columns, rows, x, y), h) in enumerate(zip(BIF_AREAS, heights))
            for r in range(rows) for c in range(columns)}


def encode_info(directions: tuple[str, str] = ("RIGHT", "UP"), drop: str = "") -> str:
    right, up = iter(BIF_RIGHT), iter(BIF_UP)
    origins, infos = [], []
    for n, (start_column, start_row, columns, rows, x, y) in enumerate(BIF_AREAS):
        origins.append(f'<AOI{n} OriginX="{start_column * BIF_TILE}" '
                       f'OriginY="{start_row * BIF_TILE}"/>')
        joints = []
        for r in range(rows):
            for c in range(columns):
                if c + 1 < columns:
                    overlap, confidence = next(right)
                    pair = (c, c + 1) if directions[0] == "RIGHT" else (c + 1, c)
                    joints.append(
                        f'<TileJointInfo FlagJoined="1" Direction="{directions[0]}" '
                        f'Tile1="{serpentine(pair[0], r, columns, rows)}" '
                        f'Tile2="{serpentine(pair[1], r, columns, rows)}" '
                        f'OverlapX="{overlap}" OverlapY="1" Confidence="{confidence}"/>')
                if r + 1 < rows:
                    overlap, confidence = next(up)
                    pair = (r + 1, r) if directions[1] == "UP" else (r, r + 1)
                    joints.append(
                        f'<TileJointInfo FlagJoined="1" Direction="{directions[1]}" '
                        f'Tile1="{serpentine(c, pair[0], columns, rows)}" '
                        f'Tile2="{serpentine(c, pair[1], columns, rows)}" '
                        f'OverlapX="1" OverlapY="{overlap}" Confidence="{confidence}"/>')
        infos.append(f'<ImageInfo AOIScanned="1" AOIIndex="{n}" Width="{BIF_TILE}" '
                     f'Height="{BIF_TILE}" NumRows="{rows}" NumCols="{columns}" '
                     f'Pos-X="{x}" Pos-Y="{y}">{"".join(joints)}</ImageInfo>')
    text = (f'<?xml version="1.0" encoding="utf-8"?><EncodeInfo Ver="2"><SlideInfo/>'
            f'<AoiOrigin>{"".join(origins)}</AoiOrigin>'
            f'<SlideStitchInfo>{"".join(infos)}</SlideStitchInfo></EncodeInfo>')
    return text.replace(drop, "") if drop else text


ISCAN = ('<?xml version="1.0" encoding="utf-8"?><Metadata><iScan Magnification="40" '
         'ScanRes="0.25" UnitNumber="BI10N0301" ScannerModel="VENTANA DP 200" '
         'BuildVersion="1.1.0.15854"/></Metadata>')


def write_bif(path: str, source: numpy.ndarray, encode: str | None = None,
              stitched: bool = False, iscan: str = ISCAN,
              descriptions: tuple[str, ...] = ("level=0 mag=40 quality=90",
                                               "level=1 mag=20 quality=90",
                                               "level=2 mag=10 quality=90")) -> dict:
    """A BIF: macro ('Label Image', carrying the iScan XMP) and thumbnail, then three levels.
    Each field of BIF_AREAS shows the source where the field lies, lighter or darker by the
    parity of its column and row, so the overlaps show which field is on top. Level 0 stores
    the fields butted on BIF_GRID, tiles outside the areas white; the reduced levels shrink
    that mosaic. `stitched` writes a Ventana TIFF without EncodeInfo."""
    columns, rows = BIF_GRID
    mosaic = numpy.full((rows * BIF_TILE, columns * BIF_TILE, 3), WHITE, numpy.uint8)
    for (n, c, r), (x, y) in bif_positions().items():
        start_column, start_row = BIF_AREAS[n][:2]
        field = source[1200 + y:1200 + y + BIF_TILE, 400 + x:400 + x + BIF_TILE].astype(int)
        field = numpy.clip(field + (8 if (c + r) % 2 else -8), 0, 255).astype(numpy.uint8)
        top, left = (start_row + r) * BIF_TILE, (start_column + c) * BIF_TILE
        mosaic[top:top + BIF_TILE, left:left + BIF_TILE] = field
    levels = shrunk(mosaic, (1, 2, 4))
    macro = numpy.ascontiguousarray(source[::8, ::8])
    thumbnail = numpy.ascontiguousarray(mosaic[::8, ::8])
    xmp = [(700, 1, 0, (encode or encode_info()).encode(), True)] if not stitched else []
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(macro, rowsperstrip=16, compression="jpeg", photometric="rgb",
                  description="Label Image", metadata=None,
                  extratags=[(700, 1, 0, iscan.encode(), True)])
        tif.write(thumbnail, rowsperstrip=16, compression="jpeg", photometric="rgb",
                  description="Thumbnail", metadata=None)
        for i, (level, description) in enumerate(zip(levels, descriptions)):
            write_jpeg_tiles(tif, level, BIF_TILE, description=description,
                             extratags=xmp if i == 0 else [])
    return {"levels": levels, "macro": macro, "thumbnail": thumbnail}
