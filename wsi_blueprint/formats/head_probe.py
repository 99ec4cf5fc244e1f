"""The first bytes of listed objects, for rules that recognise members by their magic.

A listing decides kinds by name, but a DICOM instance named by its UID carries no extension:
only its bytes say what it is. A rule folding a listing asks a `HeadProbe` for the first bytes
of one such object per folder. One listing may read at most MAX_PROBES heads (beyond that the
objects are listed as they are), the heads are remembered per object version so that the next
listing reads none, and a store error leaves the object unrecognised instead of failing the
listing.
"""

import collections
import logging
import threading
from typing import Callable

from ..errors import WSIError
from ..storage import Store

MAX_PROBES = 32
HEAD_BYTES = 132  # DICOM's magic ends there
_REMEMBERED = 4096

# Given a listed entry, its first HEAD_BYTES (fewer for a smaller object) or None.
Heads = Callable[[dict], bytes | None]

log = logging.getLogger(__name__)

# (store name, id, size, modified) -> the object's first bytes, most recently used last.
_heads: collections.OrderedDict[tuple, bytes] = collections.OrderedDict()
_lock = threading.Lock()


class HeadProbe:
    """The head reads of one listing, bounded by MAX_PROBES."""

    def __init__(self, store: Store):
        self._store = store
        self.left = MAX_PROBES

    def head(self, entry: dict) -> bytes | None:
        """The first HEAD_BYTES of a listed object ({"id", "size", "modified"}), or None when
        the bound is spent or the store failed."""
        key = (self._store.name, entry["id"], entry["size"], entry["modified"])
        with _lock:
            head = _heads.get(key)
            if head is not None:
                _heads.move_to_end(key)
                return head
        if self.left <= 0:
            return None
        self.left -= 1
        try:
            head = self._store.read_head(entry["id"], HEAD_BYTES)
        except (WSIError, OSError) as error:
            log.warning("listing could not read the head of %r: %s", entry["id"], error)
            return None
        with _lock:
            _heads[key] = head
            while len(_heads) > _REMEMBERED:
                _heads.popitem(last=False)
        return head


def no_heads(entry: dict) -> None:
    """For folding without reading: every object is known by its name only."""
    return None
