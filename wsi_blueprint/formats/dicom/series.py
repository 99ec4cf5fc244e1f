"""A DICOM series: the instances of a folder grouped by SeriesInstanceUID into one slide.

Opening reads the first block of every instance, 64 at a time (one request each, in parallel):
the meta header, the dataset and the offset table fit in it in the common case. VOLUME instances
are the levels, keyed by their total pixel matrix (the first image of a size is served, its
focal plane 0: one instance, or the instances of a concatenation together; others are named in
the properties); LABEL, OVERVIEW and THUMBNAIL instances are the associated images.
"""

import dataclasses
import itertools
import math

from ...caches import BlockReader
from ...errors import CorruptSlide, SlideNotFound, UnsupportedFormat
from ...storage.joined import member_base
from ..index import Frames, Image, IntArray, Level, SlideIndex
from ..members import Members
from .concatenation import images_of, in_frame_order
from .encoding import compression_of, encoding_of
from .frames import encapsulated_frames, native_frames
from .header import IMPLICIT_VR, Instance, NotAnInstance, read_instance, required
from .positions import frame_positions
from .properties import (dicom_properties, icc_profile, label_properties, mpp_of,
                         objective_power_of)

ASSOCIATED = {"LABEL": "label", "OVERVIEW": "macro", "THUMBNAIL": "thumbnail"}
# Instances whose first blocks are fetched at once (in parallel); a folder whose first batch
# holds no DICOM at all is not read further.
HEADER_BATCH = 64
SERIES_MARK = "@"
# A sparse level's map from tile to frame is kept whole in the index: 2^20 tiles are a level
# of 256k x 256k pixels in tiles of 256.
MAX_SPARSE_TILES = 1 << 20


def parse_series(blocks: BlockReader, members: Members) -> SlideIndex:
    objects = members.objects
    instances, refused = [], []
    for i, info in enumerate(objects):
        if i % HEADER_BATCH == 0:
            if i and not instances and not refused:  # a folder of other files: give up early
                break
            batch = range(i, min(i + HEADER_BATCH, len(objects)))
            blocks.read_many([(member_base(j), min(blocks.block_size, objects[j].size))
                              for j in batch])
        try:
            instances.append(read_instance(blocks, i, info.id, info.size))
        except NotAnInstance:
            continue
        except UnsupportedFormat as exc:  # DICOM of another kind beside the series
            if info.id == members.selector:
                raise
            refused.append(exc)
    series = _series(instances, members)
    if not series:
        if refused:
            raise refused[0]
        raise UnsupportedFormat("the folder holds no DICOM whole-slide image")
    uid = series[0].series_uid
    uids = sorted({instance.series_uid for instance in instances})
    index = _index(blocks, series, members, uid, uids)
    return dataclasses.replace(index, aliases=_aliases(instances, uids))


def _aliases(instances: list[Instance], uids: list[str]) -> dict[str, str]:
    """The series each id of the folder opens, named as the index names its part: the folder
    (''), each suffix and each instance."""
    def part(uid: str) -> str:
        return f"{SERIES_MARK}{uid}" if len(uids) > 1 else ""
    return {"": part(uids[0]), **{f"{SERIES_MARK}{uid}": part(uid) for uid in uids},
            **{instance.id: part(instance.series_uid) for instance in instances}}


def _series(instances: list[Instance], members: Members) -> list[Instance]:
    """The instances of the series the id asks for (see rule): a suffix names it, an
    instance's id names its own, a folder alone the first by UID."""
    if members.selector.startswith(SERIES_MARK):
        uid = members.selector[len(SERIES_MARK):]
        if not any(instance.series_uid == uid for instance in instances):
            raise SlideNotFound(f"no DICOM series {uid!r} in {members.slide_id!r}")
    elif members.selector:
        asked = [instance for instance in instances if instance.id == members.selector]
        if not asked:
            raise UnsupportedFormat(f"{members.selector!r} is no DICOM instance")
        uid = asked[0].series_uid
    elif instances:
        uid = min(instance.series_uid for instance in instances)
    else:
        return []
    return [instance for instance in instances if instance.series_uid == uid]


def _image(blocks: BlockReader, image: list[Instance]) -> tuple[Image, tuple[int, ...] | None,
                                                                 str]:
    """An image (one instance, or a concatenation's in frame order) as served, the tiles it
    stores if it is sparse, and where its frame offsets came from ('native', 'extended',
    'basic' or 'walk')."""
    instance = image[0]
    ds = instance.dataset
    width, height = instance.size_in_pixels
    tile = (int(required(ds, "Columns")), int(required(ds, "Rows")))
    count = sum(part.frame_count for part in image)
    if min(width, height, *tile) <= 0 or count <= 0:
        raise CorruptSlide(f"a DICOM image of {width}x{height} in frames of {tile[0]}x{tile[1]}")
    found = [_frames(blocks, part, tile) for part in image]
    frames, how = found[0][0], " ".join(sorted({how for _, how in found}))
    if len(image) > 1:
        firsts = itertools.accumulate((part.frame_count for part in image[:-1]), initial=0)
        frames = Frames(*tile, base=0, parts=tuple(
            dataclasses.replace(part_frames, first=first)
            for (part_frames, _), first in zip(found, firsts)))
    columns, rows = math.ceil(width / tile[0]), math.ceil(height / tile[1])
    present = None
    if str(ds.get("DimensionOrganizationType", "")).upper() == "TILED_SPARSE":
        frame_of, present = _sparse(image, tile, columns, rows)
        frames = dataclasses.replace(frames, frame_of=frame_of)
    elif count < columns * rows:
        raise CorruptSlide(f"{count} frames for a grid of {columns}x{rows}")
    encoding = encoding_of(blocks, instance, found[0][0])
    return Image(width, height, encoding, frames), present, how


def _frames(blocks: BlockReader, instance: Instance, tile: tuple[int, int]) -> tuple[Frames, str]:
    ds = instance.dataset
    if compression_of(instance) == "none":
        frame_bytes = tile[0] * tile[1] * int(required(ds, "SamplesPerPixel")) * \
            int(required(ds, "BitsAllocated")) // 8
        return native_frames(blocks, instance, tile, frame_bytes), "native"
    return encapsulated_frames(blocks, instance, tile)


def _sparse(image: list[Instance], tile: tuple[int, int], columns: int,
            rows: int) -> tuple[IntArray, tuple[int, ...]]:
    """TILED_SPARSE: each frame's tile from its position (1-based pixels); the frames of the
    first frame's focal plane and optical path only."""
    if columns * rows > MAX_SPARSE_TILES:
        raise UnsupportedFormat(f"a TILED_SPARSE grid of {columns}x{rows} tiles (at most "
                                f"{MAX_SPARSE_TILES} are supported)")
    frame_of = [0] * (columns * rows)
    present, first_plane = set(), None
    positions = [position for instance in image for position in frame_positions(
        instance.dataset, instance.frame_count, instance.transfer_syntax == IMPLICIT_VR)]
    for number, (x, y, plane) in enumerate(positions):
        first_plane = plane if first_plane is None else first_plane
        if plane != first_plane:
            continue
        if x % tile[0] or y % tile[1] or not (0 <= x // tile[0] < columns
                                               and 0 <= y // tile[1] < rows):
            raise CorruptSlide(f"frame {number + 1} at {x + 1},{y + 1} is off the tile grid")
        index = (y // tile[1]) * columns + x // tile[0]
        frame_of[index] = number
        present.add(index)
    return IntArray(len(frame_of), tuple(frame_of)), tuple(sorted(present))


def _index(blocks: BlockReader, series: list[Instance], members: Members, uid: str,
           uids: list[str]) -> SlideIndex:
    volumes: dict[tuple[int, int], list[Instance]] = {}
    associated: dict[str, Image] = {}
    for instance in sorted(series, key=lambda i: (int(i.dataset.get("InstanceNumber") or 0),
                                                 i.id)):
        role = instance.role
        if role in ASSOCIATED:
            name = ASSOCIATED[role]
            if name not in associated:
                try:
                    associated[name] = _image(blocks, [instance])[0]
                except UnsupportedFormat:
                    continue  # an extra the viewer can do without; the slide still opens
        elif role in ("VOLUME", ""):
            volumes.setdefault(instance.size_in_pixels, []).append(instance)
    if not volumes:
        raise UnsupportedFormat(f"DICOM series {uid} has no VOLUME image")
    sizes = sorted(volumes, key=lambda size: size[0] * size[1], reverse=True)
    base_width, base_height = sizes[0]
    levels, others = [], {}
    for number, size in enumerate(sizes):
        served, *rest = images_of(volumes[size])
        served = in_frame_order(served)
        image, present, how = _image(blocks, served)
        levels.append(Level(image.width, image.height, image.encoding, image.layout,
                            (base_width / image.width + base_height / image.height) / 2,
                            present=present))
        others[f"dicom.level[{number}].frame-offsets"] = how
        if len(served) > 1:
            others[f"dicom.level[{number}].concatenation"] = " ".join(i.id for i in served)
        if rest:
            others[f"dicom.level[{number}].other-instances"] = " ".join(
                i.id for other in rest for i in other)
    first = in_frame_order(images_of(volumes[sizes[0]])[0])[0]
    properties = {**dicom_properties(first.dataset), **others,
                  "dicom.series-instance-uid": uid}
    if len(uids) > 1:
        properties["dicom.series-in-folder"] = " ".join(
            f"{members.slide_id}{SERIES_MARK}{other}" for other in uids)
    return SlideIndex(
        format="dicom",
        levels=tuple(levels),
        mpp=mpp_of(first.dataset, base_width),
        objective_power=objective_power_of(first.dataset),
        properties=properties,
        phi_properties=label_properties(properties),
        associated=associated,
        icc_profile=icc_profile(blocks, first),
        files=members.ids,
        part=f"{SERIES_MARK}{uid}" if len(uids) > 1 else "",
    )
