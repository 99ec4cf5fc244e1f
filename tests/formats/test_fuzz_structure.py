"""Fuzzing the parser through the real range reader: mutated TIFF/SVS/NDPI directories.

Hypothesis rewrites directory entries (tag, type, count, value or offset) with values chosen to
hurt (zero, one, all ones, just past the end of the file, the entry's own offset), points the
next-IFD link back into the chain (loops), and flips bytes in the header. Each mutant is opened,
every level's first and last tile read and decoded, and its associated images read. The only
outcomes allowed are a slide, UnsupportedFormat or CorruptSlide (or NotFound for an associated
image the mutant lost); each mutant must finish within a time bound and a memory bound. The
Philips, Leica and Ventana seeds also have values of their XML replaced; those mutants render a
thumbnail, so every level model's placing runs (TooLarge is allowed: a mutant may claim a slide
too big to shrink). MRXS mutants have Index.dat's 32-bit fields and Slidedat.ini's values
rewritten the same way.

The default run tries a bounded number of mutants; `WSI_FUZZ_EXAMPLES=5000 pytest
tests/formats/test_fuzz_structure.py` (or `tox -e fuzz`) tries many more.
"""

import os
import re
import shutil
import struct
import tempfile
import threading
import tracemalloc

import numpy
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mrxs_slides
import synthetic
import vendor_slides
from helpers import testdata_path
from slide_access import open_slide
from wsi_blueprint.errors import CorruptSlide, NotFound, TooLarge, UnsupportedFormat
from wsi_blueprint.imaging.decode import decode
from wsi_blueprint.imaging.region import thumbnail

EXAMPLES = int(os.environ.get("WSI_FUZZ_EXAMPLES", "120"))
TIME_BOUND = 10.0            # seconds for one mutant: parse, read and decode
MEMORY_BOUND = 256 * 2 ** 20  # bytes of Python allocations at the peak for one mutant
ALLOWED = (UnsupportedFormat, CorruptSlide)


def _seeds(folder) -> dict[str, bytes]:
    whole = synthetic.source_pixels(testdata_path("CMU-1-Small-Region.svs"))
    source = whole[:512, :512]
    paths = {
        "aperio.svs": lambda p: synthetic.write_aperio(p, source, "jpeg-rgb"),
        "pyramid-zlib.tiff": lambda p: synthetic.write_pyramid(p, source, "zlib", (1, 2, 4)),
        "subifd-bigtiff.tiff": lambda p: synthetic.write_pyramid(
            p, source, "jpeg", (1, 2), tile=128, subifds=True, bigtiff=True),
        "small.ndpi": lambda p: synthetic.write_ndpi(
            p, synthetic.restart_jpeg(source[:256, :256], "444", 4), 256, 256),
        "philips.tiff": lambda p: vendor_slides.write_philips(p, source, factors=(1, 2)),
        "leica.scn": lambda p: vendor_slides.write_scn(p, whole, levels=2),
        "ventana.bif": lambda p: vendor_slides.write_bif(p, whole),
    }
    seeds = {}
    for name, write in paths.items():
        write(str(folder / name))
        seeds[name] = (folder / name).read_bytes()
    for name in ("small.svs", "boxes.tiff"):
        seeds[name] = open(testdata_path(name), "rb").read()
    return seeds


def _entries(data: bytes) -> list[tuple[int, bool]]:
    """(file offset of each directory entry, BigTIFF?) as tifffile reads the seed."""
    found = []
    with tifffile.TiffFile(__import__("io").BytesIO(data)) as tiff:
        big = tiff.is_bigtiff
        for page in tiff.pages:
            for tag in page.tags.values():
                found.append((tag.offset, big))
    return found


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    seeds = _seeds(tmp_path_factory.mktemp("fuzz-seeds"))
    return {name: (data, _entries(data)) for name, data in seeds.items()}


HURTFUL = st.sampled_from(["zero", "one", "ones", "past_end", "self", "random"])


def _value(kind: str, data: bytearray, position: int, draw_random: int, width: int) -> int:
    limit = 2 ** (8 * width) - 1
    return {"zero": 0, "one": 1, "ones": limit, "past_end": min(limit, len(data) + 1),
            "self": min(limit, position), "random": draw_random & limit}[kind]


MUTATION = st.tuples(st.integers(0, 10 ** 6), st.sampled_from(["tag", "type", "count", "value"]),
                     HURTFUL, st.integers(0, 2 ** 64 - 1))


def mutate(data: bytes, entries: list, mutations: list, header_flips: list) -> bytes:
    out = bytearray(data)
    for index, field, kind, number in mutations:
        offset, big = entries[index % len(entries)]
        if big:  # tag 2, type 2, count 8, value 8
            layout = {"tag": (0, 2, "<H"), "type": (2, 2, "<H"), "count": (4, 8, "<Q"),
                      "value": (12, 8, "<Q")}
        else:    # tag 2, type 2, count 4, value 4
            layout = {"tag": (0, 2, "<H"), "type": (2, 2, "<H"), "count": (4, 4, "<I"),
                      "value": (8, 4, "<I")}
        at, width, fmt = layout[field]
        position = offset + at
        if position + width <= len(out):
            struct.pack_into(fmt, out, position, _value(kind, out, position, number, width))
    for position, byte in header_flips:
        out[position % min(len(out), 16)] = byte
    return bytes(out)


def exercise(folder: str, name: str) -> str:
    """Open the mutant and read what a viewer would; the outcome's name."""
    try:
        slide = open_slide(f"file://{folder}", name)
        for number in range(len(slide.levels)):
            columns, rows = slide.tile_grid(number)
            for tile in slide.read_tiles(number, [(0, 0), (columns - 1, rows - 1)]):
                decode(tile)
        for associated in slide.associated_names:
            for piece in slide.read_associated(associated):
                decode(piece)
        return "ok"
    except ALLOWED as error:
        return type(error).__name__
    except NotFound as error:
        return type(error).__name__


def bounded(where, name: str, attempt=exercise) -> tuple[str, float]:
    """`attempt(where, name)` (exercise() on a folder) in a thread with a time bound;
    (outcome, peak bytes allocated)."""
    result: dict = {}

    def run() -> None:
        tracemalloc.start()
        try:
            result["outcome"] = attempt(where, name)
        except BaseException as error:  # reported below, with the mutant kept for a look
            result["error"] = error
        finally:
            result["peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(TIME_BOUND)
    assert not worker.is_alive(), f"{name}: still running after {TIME_BOUND} s"
    if "error" in result:
        raise result["error"]
    return result["outcome"], result["peak"]


@settings(max_examples=EXAMPLES, deadline=None, derandomize="WSI_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.sampled_from(["aperio.svs", "pyramid-zlib.tiff", "subifd-bigtiff.tiff",
                             "small.ndpi", "small.svs", "boxes.tiff", "philips.tiff",
                             "leica.scn", "ventana.bif"]),
       mutations=st.lists(MUTATION, min_size=1, max_size=4),
       header_flips=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 255)), max_size=1))
def test_mutated_directories_fail_cleanly_within_bounds(tmp_path, seeds, seed, mutations,
                                                         header_flips):
    data, entries = seeds[seed]
    mutant = mutate(data, entries, mutations, header_flips)
    name = f"mutant-{abs(hash((seed, tuple(mutations), tuple(header_flips)))):x}"
    (tmp_path / name).write_bytes(mutant)
    outcome, peak = bounded(str(tmp_path), name)
    assert outcome in ("ok", "UnsupportedFormat", "CorruptSlide", "NotFound")
    assert peak < MEMORY_BOUND, f"{seed}: {peak / 2 ** 20:.0f} MiB for one mutant"
    (tmp_path / name).unlink()


def test_a_directory_chain_that_loops_is_refused_quickly(tmp_path, seeds):
    data, _ = seeds["pyramid-zlib.tiff"]
    out = bytearray(data)
    first = struct.unpack_from("<I", out, 4)[0]
    count = struct.unpack_from("<H", out, first)[0]
    struct.pack_into("<I", out, first + 2 + 12 * count, first)  # next IFD = itself
    (tmp_path / "loop.tiff").write_bytes(bytes(out))
    outcome, _ = bounded(str(tmp_path), "loop.tiff")
    assert outcome in ("ok", "CorruptSlide", "UnsupportedFormat")


def test_enormous_dimensions_are_refused_before_allocating(tmp_path):
    # A tiled TIFF header claiming 2^31 x 2^31 pixels of 8x8 tiles: the tile tables alone
    # would need exabytes. It must be refused from its numbers, not by trying.
    tiny = numpy.zeros((16, 16, 3), numpy.uint8)
    path = tmp_path / "huge.tiff"
    tifffile.imwrite(path, tiny, tile=(16, 16), compression="zlib")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        for code in (256, 257):  # ImageWidth, ImageLength: LONG value in place
            tag = page.tags[code]
            struct.pack_into("<HI", data, tag.offset + 2, 4, 1)
            struct.pack_into("<I", data, tag.offset + 8, 2 ** 31)
    path.write_bytes(bytes(data))
    outcome, peak = bounded(str(tmp_path), "huge.tiff")
    assert outcome in ("CorruptSlide", "UnsupportedFormat")
    assert peak < 64 * 2 ** 20


# -- DICOM: mutated attributes, offset tables and item headers ------------------------------

DICOM_EXAMPLES = max(1, EXAMPLES // 2)
# Where mutations hurt: Rows, Columns, NumberOfFrames, BitsAllocated, SamplesPerPixel, the
# total pixel matrix, the Extended Offset Table, the pixel data element, every item header and
# a concatenation's frame offset and numbers.
_DICOM_TAGS = [b"\x28\x00\x10\x00", b"\x28\x00\x11\x00", b"\x28\x00\x08\x00",
               b"\x28\x00\x00\x01", b"\x28\x00\x02\x00", b"\x48\x00\x06\x00",
               b"\x48\x00\x07\x00", b"\xe0\x7f\x01\x00", b"\xe0\x7f\x02\x00",
               b"\xe0\x7f\x10\x00", b"\xfe\xff\x00\xe0", b"\x20\x00\x28\x92",
               b"\x20\x00\x62\x91", b"\x20\x00\x63\x91"]


def _dicom_seeds(folder) -> dict[str, tuple[bytes, list[int], dict[str, bytes]]]:
    """Each seed: the instance to mutate, where mutations hurt, and the instances written
    unchanged beside it (the other part of a concatenation)."""
    from dicom_writer import split_instance, write_instance
    source = numpy.ascontiguousarray(
        synthetic.source_pixels(testdata_path("CMU-1-Small-Region.svs"))[:160, :200])
    options = {"jpeg-basic": {}, "jpeg-walk": {"offsets": "none", "fragments": 2},
               "jpeg-extended": {"offsets": "extended"}, "native": {"codec": "native"},
               "rle": {"codec": "rle"}, "sparse": {"missing": frozenset({(1, 1)})}}
    seeds = {}
    for name, option in options.items():
        path = folder / f"{name}.dcm"
        write_instance(str(path), source, **option)
        data = path.read_bytes()
        spots = sorted(i for tag in _DICOM_TAGS for i in _find_all(data, tag))
        seeds[name] = (data, spots, {})
    os.makedirs(folder / "concatenation")
    first, second = (open(part, "rb").read() for part in split_instance(
        str(folder / "jpeg-basic.dcm"), str(folder / "concatenation"), [5, 7]))
    seeds["concatenation"] = (second, sorted(i for tag in _DICOM_TAGS
                                             for i in _find_all(second, tag)), {"h.dcm": first})
    return seeds


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found, at = [], data.find(needle)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


@pytest.fixture(scope="module")
def dicom_seeds(tmp_path_factory):
    return _dicom_seeds(tmp_path_factory.mktemp("dicom-fuzz-seeds"))


@pytest.fixture(scope="module")
def dicom_store(tmp_path_factory):
    from helpers import make_settings
    from wsi_blueprint.state import WSIState
    folder = tmp_path_factory.mktemp("dicom-mutants")
    return folder, WSIState.build(make_settings(store=f"file://{folder}")).library


def exercise_dicom(library, slide_id: str) -> str:
    try:
        slide = library.open(slide_id)
        for number in range(len(slide.levels)):
            columns, rows = slide.tile_grid(number)
            for tile in slide.read_tiles(number, [(0, 0), (columns - 1, rows - 1)]):
                decode(tile)
        return "ok"
    except (*ALLOWED, NotFound) as error:
        return type(error).__name__


DICOM_MUTATION = st.tuples(st.integers(0, 10 ** 6), st.integers(0, 11), HURTFUL,
                           st.integers(0, 2 ** 32 - 1), st.sampled_from([2, 4]))


@settings(max_examples=DICOM_EXAMPLES, deadline=None,
          derandomize="WSI_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.sampled_from(["jpeg-basic", "jpeg-walk", "jpeg-extended", "native", "rle",
                             "sparse", "concatenation"]),
       mutations=st.lists(DICOM_MUTATION, min_size=1, max_size=3),
       cut=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_mutated_dicom_fails_cleanly_within_bounds(dicom_seeds, dicom_store, seed, mutations,
                                                   cut):
    data, spots, beside = dicom_seeds[seed]
    out = bytearray(data)
    for index, delta, kind, number, width in mutations:
        position = spots[index % len(spots)] + delta
        if position + width <= len(out):
            value = _value(kind, out, position, number, width)
            out[position:position + width] = value.to_bytes(width, "little")
    if cut is not None:  # truncated
        out = out[:int(len(out) * cut)]
    folder, library = dicom_store
    name = f"mutant-{abs(hash((seed, tuple(mutations), cut))):x}"
    os.makedirs(folder / name, exist_ok=True)
    (folder / name / "i.dcm").write_bytes(bytes(out))
    for other, unchanged in beside.items():
        (folder / name / other).write_bytes(unchanged)
    outcome, peak = bounded(library, name, exercise_dicom)
    # SlideNotFound: cut to nothing, the folder holds no object that can be an instance.
    assert outcome in ("ok", "UnsupportedFormat", "CorruptSlide", "SlideNotFound")
    assert peak < MEMORY_BOUND


# The vendor XML: where it starts in each seed and what ends it.
VENDOR_XML = {"philips.tiff": [(b'<DataObject ObjectType="DPUfsImport">', b"\x00")],
              "leica.scn": [(b"<scn xmlns=", b"</scn>")],
              "ventana.bif": [(b"<Metadata><iScan", b"</Metadata>"),
                              (b"<EncodeInfo", b"</EncodeInfo>")]}
XML_VALUES = st.sampled_from(["0", "-1", "1", "99999999999", "nan", "1e999", "", "x", "<",
                              '"', "&amp;", "3.5", "-99999"])


def _xml_fields(name: str, data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every attribute value and text node of the seed's vendor XML."""
    fields = []
    for opening, closing in VENDOR_XML[name]:
        start = data.index(opening)
        end = data.index(closing, start)
        for match in re.finditer(rb'="([^"]+)"|>([^<]+)<', data[start:end]):
            group = 1 if match.group(1) is not None else 2
            fields.append((start + match.start(group), start + match.end(group)))
    return fields


def render(folder: str, name: str) -> str:
    """Open the mutant, read its thumbnail (every level model's placing code runs) and its
    associated images; the outcome's name."""
    try:
        slide = open_slide(f"file://{folder}", name)
        thumbnail(slide, 96)
        for associated in slide.associated_names:
            for piece in slide.read_associated(associated):
                decode(piece)
        return "ok"
    except (*ALLOWED, NotFound, TooLarge) as error:
        return type(error).__name__


@settings(max_examples=max(EXAMPLES // 2, 1), deadline=None,
          derandomize="WSI_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.sampled_from(sorted(VENDOR_XML)),
       edits=st.lists(st.tuples(st.integers(0, 10 ** 6), XML_VALUES), min_size=1, max_size=3))
def test_mutated_vendor_xml_fails_cleanly_within_bounds(tmp_path, seeds, seed, edits):
    """Values and text of the Philips, Leica and Ventana XML replaced with hurtful ones, the
    file's length kept (so every offset still holds)."""
    data, _ = seeds[seed]
    fields = _xml_fields(seed, data)
    mutant = bytearray(data)
    for index, value in edits:
        start, end = fields[index % len(fields)]
        mutant[start:end] = value.encode().ljust(end - start)[:end - start]
    name = f"xml-{abs(hash((seed, tuple(edits)))):x}"
    (tmp_path / name).write_bytes(bytes(mutant))
    outcome, peak = bounded(str(tmp_path), name, render)
    assert outcome in ("ok", "UnsupportedFormat", "CorruptSlide", "NotFound", "TooLarge")
    assert peak < MEMORY_BOUND, f"{seed}: {peak / 2 ** 20:.0f} MiB for one mutant"
    (tmp_path / name).unlink()


def exercise_mrxs(folder: str, name: str) -> str:
    """exercise() for an MRXS mutant, opened as the app opens multi-object slides."""
    try:
        slide = mrxs_slides.open_through_library(f"file://{folder}", name)
        for number in range(len(slide.levels)):
            count = len(slide.levels[number].positions)
            columns = slide.tile_grid(number)[0]
            last = count - 1
            for tile in slide.read_tiles(number, [(0, 0), (last % columns, last // columns)]):
                decode(tile)
        for associated in slide.associated_names:
            for piece in slide.read_associated(associated):
                decode(piece)
        return "ok"
    except ALLOWED + (NotFound,) as error:
        return type(error).__name__


SLIDEDAT_VALUES = st.sampled_from(["0", "-1", "1", "3", "2147483647", "99999999999", "", "x",
                                   "1e9", "nan", "JPEG", "PNG", "Data0000.dat"])


@settings(max_examples=EXAMPLES // 2, deadline=None,
          derandomize="WSI_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(index_changes=st.lists(st.tuples(st.integers(0, 10 ** 6), HURTFUL,
                                        st.integers(0, 2 ** 32 - 1)), max_size=3),
       slidedat_changes=st.lists(st.tuples(st.integers(0, 10 ** 6), SLIDEDAT_VALUES),
                                 max_size=2))
def test_mutated_mrxs_index_and_slidedat_fail_cleanly_within_bounds(
        tmp_path, mrxs_set, index_changes, slidedat_changes):
    """Index.dat's 32-bit fields (pointers, counts, records, offsets) and Slidedat.ini's
    values rewritten with values chosen to hurt."""
    store = tempfile.mkdtemp(dir=tmp_path)  # one per example: tmp_path is shared by all
    folder = mrxs_slides.copy_slide(mrxs_set["synthetic.mrxs"], store, "mutant")
    index = bytearray(open(os.path.join(folder, "Index.dat"), "rb").read())
    for position, kind, number in index_changes:
        at = position % (len(index) // 4) * 4
        struct.pack_into("<I", index, at, _value(kind, index, at, number, 4))
    open(os.path.join(folder, "Index.dat"), "wb").write(bytes(index))
    ini_path = os.path.join(folder, "Slidedat.ini")
    lines = open(ini_path, encoding="utf-8-sig").read().split("\n")
    for line, value in slidedat_changes:
        keyed = [i for i, text in enumerate(lines) if "=" in text]
        at = keyed[line % len(keyed)]
        lines[at] = lines[at].split("=")[0] + "= " + value
    open(ini_path, "w", encoding="utf-8-sig").write("\n".join(lines))
    outcome, peak = bounded(store, "mutant.mrxs", exercise_mrxs)
    assert outcome in ("ok", "UnsupportedFormat", "CorruptSlide", "NotFound")
    assert peak < MEMORY_BOUND, f"MRXS mutant: {peak / 2 ** 20:.0f} MiB"
    shutil.rmtree(store)
