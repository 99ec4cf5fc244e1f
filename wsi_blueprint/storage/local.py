"""`file:///dir`: slides in a local folder, the embedded default. Confined to that folder."""

import datetime
import os
import time

from ..counters import Counters
from ..errors import SlideNotFound, StoreUnavailable
from ..slide_ids import validate_slide_id
from .base import ObjectInfo, Page, RangeReader, Store, Version


class FileRangeReader(RangeReader):
    remote = False

    def __init__(self, slide_id: str, path: str, counters: Counters):
        self.slide_id = slide_id
        self._counters = counters
        self._fd = os.open(path, os.O_RDONLY)
        st = os.fstat(self._fd)
        self.size = st.st_size
        # The open descriptor keeps reading this inode even if the path is replaced, so the
        # version below stays true for every byte this reader returns.
        self.etag = f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"

    def _read(self, offset: int, length: int) -> bytes:
        self._counters.inc("store_requests")
        began = time.monotonic()
        data = os.pread(self._fd, length, offset)
        self._counters.inc("store_bytes", len(data))
        self._counters.inc("store_seconds", time.monotonic() - began)
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


class FileStore(Store):
    def __init__(self, root: str, counters: Counters):
        self.root = os.path.realpath(root)
        self.name = "file://" + self.root
        self._counters = counters

    def _path(self, slide_id: str) -> str:
        validate_slide_id(slide_id)
        path = os.path.realpath(os.path.join(self.root, slide_id))
        # realpath resolves symlinks: a link that points out of the root lands outside it.
        if os.path.commonpath([path, self.root]) != self.root or not os.path.isfile(path):
            raise SlideNotFound(f"no slide {slide_id!r}")
        return path

    def open(self, slide_id: str, known: Version | None = None) -> RangeReader:
        """`known` is not needed: opening a local file is a stat, and gives the exact version."""
        return FileRangeReader(slide_id, self._path(slide_id), self._counters)

    def _entries(self, folder: str) -> list[tuple[str, bool]]:
        """(key, is_folder) of a folder's visible entries in key order; `folder` is "" for
        the root or a key ending in "/", as are the keys of folders. Links to folders are
        not followed."""
        try:
            with os.scandir(os.path.join(self.root, folder)) as entries:
                keys = [(folder + entry.name + "/", True) if entry.is_dir(follow_symlinks=False)
                        else (folder + entry.name, False)
                        for entry in entries if not entry.name.startswith(".")
                        and (entry.is_dir(follow_symlinks=False) or entry.is_file())]
        except OSError:
            return []
        return sorted(keys)

    def _keys(self, folder: str, prefix: str, cursor: str | None):
        """Every file key below `folder` that starts with `prefix` and sorts after `cursor`,
        in key order: a folder's keys sort together, so only folders that can hold one are
        read, and a page costs about its own length, not the tree's."""
        for key, is_folder in self._entries(folder):
            if is_folder:
                if not (key.startswith(prefix) or prefix.startswith(key)):
                    continue
                if cursor is not None and cursor > key and not cursor.startswith(key):
                    continue  # every key inside sorts before the cursor
                yield from self._keys(key, prefix, cursor)
            elif key.startswith(prefix) and (cursor is None or key > cursor):
                yield key

    def _children(self, prefix: str) -> list[tuple[str, bool]]:
        """The entries of the folder `prefix` names that start with the rest of it: what S3
        answers for the same prefix with a "/" delimiter."""
        folder, _, start = prefix.rpartition("/")
        path = os.path.realpath(os.path.join(self.root, folder))
        if os.path.commonpath([path, self.root]) != self.root or not os.path.isdir(path):
            return []
        folder_key = folder + "/" if folder else ""
        return [(key, is_folder) for key, is_folder in self._entries(folder_key)
                if key[len(folder_key):].startswith(start)]

    def _info(self, slide_id: str) -> ObjectInfo | None:
        try:
            st = os.stat(self._path(slide_id))
        except (SlideNotFound, OSError):
            return None  # a link out of the root, or gone since the walk
        modified = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
        return ObjectInfo(slide_id, st.st_size, modified.isoformat())

    def list(self, prefix: str = "", limit: int = 100, cursor: str | None = None,
             delimiter: str | None = None) -> Page:
        if not os.path.isdir(self.root):
            raise StoreUnavailable("the slide folder does not exist")
        if delimiter:
            keys = iter([(key, is_folder) for key, is_folder in self._children(prefix)
                         if cursor is None or key > cursor])
        else:
            keys = ((key, False) for key in self._keys("", prefix, cursor))
        slides, folders, last = [], [], None
        for key, is_folder in keys:
            if is_folder:
                folders.append(key)
            else:
                info = self._info(key)
                if info is None:
                    continue
                slides.append(info)
            last = key
            if len(slides) + len(folders) == limit:
                break
        more = last is not None and next(keys, None) is not None
        return Page(slides, last if more else None, folders)
