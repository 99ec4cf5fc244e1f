"""Opening slides by id: store -> block reader -> cached index -> `Slide`.

A slide made of several objects (a DICOM series) is read through one reader joining its members
(storage.joined); `formats.catalog` says which members an id stands for. Its version is a digest
of the members' listing, so replacing any member opens a new version.

Open slides are kept in a small LRU so that a viewer's stream of tile requests costs no extra
store round trip. An entry is trusted for `revalidate_after` seconds; after that its next use
starts opening the object again in the background (one small range request) and is served from
the open slide meanwhile, so that a replaced object is noticed even between reads without a
viewer's request waiting on it; only an entry twice that old is opened again before use. What an
opening saw (the object's version, or the listing of a slide's members) goes into the shared
versions tier, and every other worker (and host) trusts it for the rest of those seconds as if
it had opened the slide itself: a viewer's connections reach several workers, and each would
otherwise wait a store round trip or two for its first tile. A read that meets a replaced object
raises `ObjectChanged`; its caller takes the new version from `reopen` and tries once more, so
that nobody sees bytes of two files mixed.
"""

import collections
import json
import math
import threading
import time
from typing import Callable

from .caches import BlockReader, Caches
from .caches.single_flight import SingleFlight
from .counters import Counters
from .errors import SlideNotFound
from .formats import catalog
from .formats.detect import parse_members, parse_slide
from .formats.index import INDEX_VERSION, SlideIndex
from .formats.members import Members
from .formats.slide import Slide
from .slide_ids import validate_slide_id
from .storage import ObjectInfo, RangeReader, Store, Version
from .storage.joined import JoinedReader
from .timing import phase

# The metadata cache key (after the members' own) of the aliases of the last index parsed of
# them: the part each id opens. No selector is this (ids and "@" suffixes are not).
_ALIASES = "|aliases"


def _alias_carrier(index: SlideIndex) -> SlideIndex:
    """An index holding only the aliases: what `_known_part` reads, small to keep."""
    return SlideIndex(format=index.format, levels=(), mpp=None, objective_power=None,
                      properties={}, associated={}, aliases=index.aliases)


# What opening an id saw: the version of the object it names, or the members of the slide it
# stands for (their listing is their version).
Opened = Version | Members


def _record(opened: Opened) -> bytes:
    """What an opening saw, and when (wall-clock time: other hosts read it)."""
    if isinstance(opened, Version):
        data: dict = {"version": [opened.size, opened.etag, opened.validators]}
    else:
        data = {"members": [opened.format, opened.slide_id, opened.selector,
                            [[info.id, info.size, info.modified] for info in opened.objects]]}
    return json.dumps({**data, "seen": time.time()}).encode()


def _from_record(record: bytes | None) -> tuple[Opened, float] | None:
    """(what was seen, seconds since) of a record; None for none, or one unreadable."""
    if record is None:
        return None
    try:
        data = json.loads(record)
        opened: Opened
        if "version" in data:
            size, etag, validators = data["version"]
            opened = Version(int(size), str(etag),
                             tuple((str(name), str(value)) for name, value in validators))
        else:
            rule, slide_id, selector, objects = data["members"]
            opened = Members(str(rule), str(slide_id), tuple(
                ObjectInfo(str(id_), int(size), modified) for id_, size, modified in objects),
                str(selector))
        return opened, time.time() - float(data["seen"])
    except (ValueError, KeyError, TypeError):
        return None


class SlideLibrary:
    def __init__(self, store: Store, caches: Caches, counters: Counters, *, block_size: int,
                 max_open: int = 256, revalidate_after: float = 60.0,
                 wait_timeout: float = 60.0):
        self.store = store
        self.caches = caches
        self.counters = counters
        self.block_size = block_size
        self.read_size = block_size  # store read unit of every open slide (see BlockReader)
        self.max_open = max_open
        self.revalidate_after = revalidate_after
        self.wait_timeout = wait_timeout
        # Hooks given to each slide's block reader (see BlockReader and `listen`).
        self._on_block_read = None
        self._on_read_ahead = None
        self._open: collections.OrderedDict[str, tuple[Slide, float]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._flights = SingleFlight()
        self._revalidating: set[str] = set()

    def open(self, slide_id: str) -> Slide:
        slide = self.open_already(slide_id)
        if slide is not None:
            return slide
        validate_slide_id(slide_id)
        return self._flights.do(slide_id, lambda: self._load(slide_id), self.wait_timeout)

    def open_already(self, slide_id: str) -> Slide | None:
        """The slide if it is open and not twice `revalidate_after` old, else None: no store
        request, no error (its id was checked when it was opened). Past `revalidate_after`
        it is opened again in the background."""
        with self._lock:
            entry = self._open.get(slide_id)
            if entry is None:
                return None
            age = time.monotonic() - entry[1]
            if age >= 2 * self.revalidate_after:
                return None
            self._open.move_to_end(slide_id)
            due = age >= self.revalidate_after and slide_id not in self._revalidating
            if due:
                self._revalidating.add(slide_id)
        if due:
            threading.Thread(target=self._revalidate, args=(slide_id,), daemon=True,
                             name="wsi-revalidate").start()
        return entry[0]

    def _revalidate(self, slide_id: str) -> None:
        """Opens an open slide again: its entry is renewed, or replaced by the object's new
        version; a slide no longer in the store is forgotten. Any other failure leaves the
        entry to age out (then a request opens it, and says what failed)."""
        try:
            self._flights.do(slide_id, lambda: self._load(slide_id), self.wait_timeout)
        except SlideNotFound:
            self.forget(slide_id)
        except Exception:  # a request meets it in its turn, and answers with its error
            pass
        finally:
            with self._lock:
                self._revalidating.discard(slide_id)

    def _load(self, slide_id: str, fresh: bool = False) -> Slide:
        """The slide, opened as any worker saw it within `revalidate_after` (no store
        request), else, or when `fresh` (a read met another version), from the store."""
        seen = None if fresh else self._seen(slide_id)
        if seen is not None and isinstance(seen[0], Members):
            return self._keep(slide_id, self._load_members(seen[0], {}), seen[1])
        try:
            reader, age = self._open_object(slide_id, seen)
        except SlideNotFound:
            members = catalog.resolve(self.store, slide_id, None, None)
            if members is None:
                raise
            self._share(slide_id, members)
            return self._keep(slide_id, self._load_members(members, {}))
        blocks = self._blocks(reader, f"{self.store.name}|{slide_id}|{reader.etag}")
        # The index format's version is in the key: two releases sharing memcached each keep
        # their own entry instead of overwriting the other's.
        key = f"{blocks.namespace}|index-v{INDEX_VERSION}"
        self.counters.inc("slide_opens")
        index = self.caches.metadata.get(key)
        if index is None:
            # Only an object no index was made of can be a member of a bigger slide.
            head = blocks.read(0, min(catalog.HEAD_BYTES, blocks.size))
            members = catalog.resolve(self.store, slide_id, head, reader.size)
            if members is not None:
                members = members.versioned(slide_id, reader.etag)
                self._share(slide_id, members)
                return self._keep(slide_id, self._load_members(members, {slide_id: reader}))
            index = self.caches.metadata.get_or_load(
                key, lambda: self._parse(blocks, slide_id), lease_seconds=10)
        return self._keep(slide_id, Slide(index, blocks), age)

    def _open_object(self, slide_id: str, seen: tuple[Opened, float] | None
                     ) -> tuple[RangeReader, float]:
        """The object, and how many seconds ago its version was seen: at the version `seen`
        without a store request (its reads meet only that version), else asked of the store
        and what it said shared."""
        if seen is not None and isinstance(seen[0], Version):
            return self.store.open(slide_id, seen[0]), seen[1]
        with phase("store"):  # the opening read is a store wait like any other
            reader = self.store.open(slide_id)
        self._share(slide_id, reader.version())
        return reader, 0.0

    def _seen(self, slide_id: str) -> tuple[Opened, float] | None:
        """What a worker's opening of `slide_id` saw within `revalidate_after`, and its age."""
        seen = _from_record(self.caches.versions.get(f"{self.store.name}|{slide_id}"))
        return seen if seen is not None and 0 <= seen[1] < self.revalidate_after else None

    def _share(self, slide_id: str, opened: Opened) -> None:
        self.caches.versions.set(f"{self.store.name}|{slide_id}", _record(opened),
                                 expire=math.ceil(self.revalidate_after))

    def _load_members(self, members: Members, opened: dict[str, RangeReader]) -> Slide:
        """The slide joined from `members`; `opened` holds members the caller opened already."""
        digest = members.digest()
        joined = JoinedReader(members.slide_id, list(members.objects), digest,
                              lambda member, known: opened.pop(member, None)
                              or self.store.open(member, known))
        blocks = self._blocks(joined, f"{self.store.name}|{members.slide_id}|{digest}")
        key = f"{blocks.namespace}|index-v{INDEX_VERSION}|"
        index = self._known_part(key, members.selector)
        if index is None:
            index = self.caches.metadata.get_or_load(
                key + members.selector, lambda: self._parse_members(blocks, members),
                lease_seconds=10)
            if index.aliases:  # where the other ids of the same slide look for it
                found = {key + _ALIASES: _alias_carrier(index)}
                if index.part != members.selector:
                    found[key + index.part] = index
                self.caches.metadata.set_many(found)
        if index.part:  # one of several slides in the members: its own name in the caches
            blocks = self._blocks(joined, f"{self.store.name}|{members.slide_id}{index.part}|"
                                          f"{digest}")
        return Slide(index, blocks)

    def _known_part(self, key: str, selector: str) -> SlideIndex | None:
        """The cached index of the slide `selector` opens, found by its canonical part (one
        index per slide, whichever of its ids was parsed): the aliases of any index parsed of
        the same members name it. None where none is cached yet."""
        known = self.caches.metadata.get(key + _ALIASES)
        part = known.aliases.get(selector) if known is not None else None
        return self.caches.metadata.get(key + part) if part is not None else None

    def _blocks(self, reader: RangeReader, namespace: str) -> BlockReader:
        return BlockReader(reader, self.caches.blocks, self.block_size, namespace,
                           self._on_block_read, lambda: self.read_size, self._on_read_ahead)

    def _keep(self, slide_id: str, slide: Slide, age: float = 0.0) -> Slide:
        """`slide` kept open for what is left of `revalidate_after` after its version was
        seen `age` seconds ago."""
        with self._lock:
            self._open[slide_id] = (slide, time.monotonic() - age)
            self._open.move_to_end(slide_id)
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)
        return slide

    def _parse(self, blocks: BlockReader, slide_id: str) -> SlideIndex:
        self.counters.inc("slide_parses")
        return parse_slide(blocks, slide_id)

    def _parse_members(self, blocks: BlockReader, members: Members) -> SlideIndex:
        self.counters.inc("slide_parses")
        return parse_members(blocks, members)

    def forget(self, slide_id: str) -> None:
        with self._lock:
            self._open.pop(slide_id, None)

    def reopen(self, slide_id: str) -> Slide:
        """The new version of a slide whose object was replaced (a read raised
        `ObjectChanged`)."""
        self.forget(slide_id)
        self.counters.inc("slide_reopens")
        # A flight of its own: an opening under way may trust the version just found stale.
        return self._flights.do(slide_id + "\0fresh", lambda: self._load(slide_id, fresh=True),
                                self.wait_timeout)

    def listen(self, on_block_read: Callable[[str, list[int]], None],
               on_read_ahead: Callable[[str, dict[int, int]], None]) -> None:
        """Hooks for the block readers of slides opened from now on: every read made for a
        viewer, and the blocks a read brought beyond those asked for (see BlockReader)."""
        self._on_block_read, self._on_read_ahead = on_block_read, on_read_ahead

    @property
    def open_count(self) -> int:
        return len(self._open)
