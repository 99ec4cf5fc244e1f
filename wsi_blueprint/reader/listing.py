"""Listing a store for people: a name filter over keyset pages, and what each entry is.

An entry's kind is decided without opening it (formats.catalog): `folder` from a delimiter
listing, `other` for a name with an extension no slide format uses (a slide is recognised from
its bytes, so anything else stays a `slide` candidate until it is opened). The members of a
slide made of several objects are folded into one entry for the slide; where names do not
tell, a bounded number of objects' first bytes are read (formats.head_probe).
"""

import dataclasses

from ..errors import BadRequest
from ..formats import catalog
from ..formats.head_probe import HeadProbe
from ..slide_ids import validate_slide_id
from ..storage import Store

# How many store pages one filtered request may read before it answers with what it found.
SCAN_PAGES = 10
SCAN_PAGE_SIZE = 1000
MAX_QUERY = 200


def listing_arguments(args, prefix: str) -> dict:
    """prefix (as access control resolved it), cursor, delimiter and query from a request's
    arguments, checked."""
    if prefix:
        validate_slide_id(prefix.rstrip("/") or "x")
    cursor = args.get("cursor") or None
    if cursor:
        validate_slide_id(cursor.rstrip("/") or "x")
    delimiter = args.get("delimiter") or None
    if delimiter not in (None, "/"):
        raise BadRequest("delimiter must be '/' (or absent for a flat listing)")
    query = args.get("q", "")
    if len(query) > MAX_QUERY or any(ord(ch) < 0x20 for ch in query):
        raise BadRequest(f"q must be at most {MAX_QUERY} printable characters")
    return {"prefix": prefix, "cursor": cursor, "delimiter": delimiter, "query": query}


@dataclasses.dataclass(frozen=True)
class Listing:
    entries: list[dict]  # {"id", "size", "modified", "kind"} in key order
    next_cursor: str | None


def _entries(page, heads: HeadProbe) -> list[dict]:
    entries = [{**info.to_dict(), "kind": catalog.kind_of(info.id, info.size)}
               for info in page.slides]
    entries += [{"id": folder, "size": None, "modified": None, "kind": "folder"}
                for folder in page.folders]
    return catalog.fold(entries, heads.head)


def list_entries(store: Store, *, prefix: str = "", limit: int = 100,
                 cursor: str | None = None, delimiter: str | None = None,
                 query: str = "") -> Listing:
    """A page of up to `limit` entries after `cursor`. With a `query` (case-insensitive
    substring of the name below `prefix`) the store is read in pages of its own until `limit`
    entries match or SCAN_PAGES were read; the cursor then says where the scan stopped, so a
    page may hold fewer matches (even none) and still have a next one."""
    if not query:
        page = store.list(prefix=prefix, limit=limit, cursor=cursor, delimiter=delimiter)
        return Listing(_entries(page, HeadProbe(store)), page.next_cursor)
    needle = query.casefold()
    heads = HeadProbe(store)  # one bound for the whole scan
    matches: list[dict] = []
    for _ in range(SCAN_PAGES):
        page = store.list(prefix=prefix, limit=SCAN_PAGE_SIZE, cursor=cursor,
                          delimiter=delimiter)
        for entry in _entries(page, heads):
            if needle in entry["id"][len(prefix):].casefold():
                matches.append(entry)
                if len(matches) == limit:
                    return Listing(matches, entry["id"])
        cursor = page.next_cursor
        if cursor is None:
            break
    return Listing(matches, cursor)
