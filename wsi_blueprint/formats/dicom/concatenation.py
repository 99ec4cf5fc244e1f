"""Concatenations: one image's frames split over several instances sharing a ConcatenationUID.

Each instance holds a run of the image's frames, starting at its ConcatenationFrameOffsetNumber
(0-based); together the runs must cover the frames from the first without gap or overlap.
"""

from ...errors import CorruptSlide
from .header import Instance


def images_of(instances: list[Instance]) -> list[list[Instance]]:
    """The images among instances of one size, in the order given: an instance alone, or the
    instances of one concatenation together (where its first instance came)."""
    images: list[list[Instance]] = []
    concatenations: dict[str, list[Instance]] = {}
    for instance in instances:
        uid = str(instance.dataset.get("ConcatenationUID") or "")
        if not uid:
            images.append([instance])
        elif uid in concatenations:
            concatenations[uid].append(instance)
        else:
            concatenations[uid] = [instance]
            images.append(concatenations[uid])
    return images


def in_frame_order(image: list[Instance]) -> list[Instance]:
    """A concatenation's instances by their first frame; CorruptSlide naming what is missing
    where they do not make one whole image."""
    first = image[0].dataset
    if not first.get("ConcatenationUID"):
        return image
    uid = first.ConcatenationUID
    offsets = []
    for instance in image:
        offset = instance.dataset.get("ConcatenationFrameOffsetNumber")
        if offset is None:
            raise CorruptSlide(f"concatenation {uid}: instance {instance.id!r} lacks "
                               "ConcatenationFrameOffsetNumber")
        if instance.transfer_syntax != image[0].transfer_syntax:
            raise CorruptSlide(f"concatenation {uid} mixes transfer syntaxes")
        offsets.append((int(offset), instance))
    offsets.sort(key=lambda pair: pair[0])
    total = first.get("InConcatenationTotalNumber")
    if total is not None and int(total) != len(image):
        raise CorruptSlide(f"concatenation {uid} has {len(image)} of its {int(total)} "
                           "instances")
    expected = 0
    for offset, instance in offsets:
        if offset > expected:
            raise CorruptSlide(f"concatenation {uid} lacks the instance of frames "
                               f"{expected + 1} to {offset}")
        if offset < expected:
            raise CorruptSlide(f"concatenation {uid}: instance {instance.id!r} repeats frames "
                               f"from {offset + 1}")
        expected = offset + instance.frame_count
    return [instance for _, instance in offsets]
