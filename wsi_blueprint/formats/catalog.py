"""What a store's objects are, by name and first bytes: single-file slides, members of
multi-object slides (see formats.members), or other files.

The library asks `resolve` which members an id stands for before it parses anything; the
listing asks `kind_of` and `fold` so that a slide made of several objects is listed once.
Each multi-object format contributes one rule to RULES.
"""

from ..caches import BlockReader
from ..errors import UnsupportedFormat
from ..storage import Store
from .dicom.rule import DICOM_RULE
from .head_probe import HEAD_BYTES, Heads, no_heads
from .index import SlideIndex
from .members import Members, Rule
from .mrxs_rule import MRXS_RULE
from .names import kind_of

__all__ = ["RULES", "HEAD_BYTES", "fold", "kind_of", "parse", "resolve"]

RULES: tuple[Rule, ...] = (DICOM_RULE, MRXS_RULE)


def resolve(store: Store, slide_id: str, head: bytes | None,
            size: int | None) -> Members | None:
    """The members of a multi-object slide `slide_id` stands for, or None for a single-file
    slide (or no slide at all: the caller decides). `head` and `size` describe the object the
    id names, None where there is none."""
    for rule in RULES:
        members = rule.members(store, slide_id, head, size)
        if members is not None:
            return members
    return None


def fold(entries: list[dict], heads: Heads = no_heads) -> list[dict]:
    """A listing page with the members of multi-object slides folded into one entry each;
    `heads` gives the first bytes of objects their names do not recognise."""
    for rule in RULES:
        entries = rule.fold(entries, heads)
    return sorted(entries, key=lambda entry: entry["id"])


def parse(blocks: BlockReader, members: Members) -> SlideIndex:
    for rule in RULES:
        if rule.name == members.format:
            return rule.parse(blocks, members)
    raise UnsupportedFormat(f"no reader for {members.format!r} slides")
