"""Rendering ahead: the resampled tiles of a predicted view, rendered into the tile cache while
the viewer looks, so that its requests find them finished.

Stored tiles pass through and only need their bytes in the block cache; the others would make a
demand request wait on decoding and resampling. The tiles are named as the viewer names them
(its protocol's `Tiling`) and rendered through the same reader as its requests, so what is
rendered ahead is byte for byte what it would have been served.
"""

from typing import Callable

from ..caches.blocks import recording_reads
from ..caches.tiered import TieredCache
from ..counters import Counters
from ..reader import RegionRequest, SlideReader, Tiling, View
from .admission import Leases
from .ledger import Ledger
from .sessions import Job

RENDERED = "tiles"        # the rendered ledger's one namespace: tile keys name their slide
RENDERED_LEDGER = 50_000  # tiles rendered ahead remembered until asked for


def derived_tiles(reader: SlideReader, tiling: Tiling, view: View
                  ) -> list[tuple[str, RegionRequest]]:
    """(cache key, request) of the tiles of `tiling` meeting the view that a render makes
    (not stored tiles passed through), centre first."""
    return [(reader.key(req), req)
            for req in tiling.requests(view.l0_x, view.l0_y, view.l0_width, view.l0_height,
                                       view.scale)
            if reader.stored_tile_of(req) is None]


class RenderAhead:
    def __init__(self, tiles: TieredCache, counters: Counters, leases: Leases,
                 on_blocks_used: Callable[[str, list[int]], None], limit: int):
        self.tiles = tiles
        self.counters = counters
        self.leases = leases
        self.limit = limit
        self._on_blocks_used = on_blocks_used
        self.rendered = Ledger(counters, "prefetch_tiles_used", leases.shared,
                               limit=RENDERED_LEDGER, on_use=self._rendering_used)

    def render(self, job: Job, reader: SlideReader, may_go_on: Callable[[], bool]) -> None:
        """Renders the resampled tiles of the job's region into the tile cache, one at a time,
        while `may_go_on()` (demand has paused, the session has not moved on). Their bytes are
        cached, so this is CPU work only, never a store request outside the budget and rate
        limit."""
        tiling, view = job.session.tiling, job.region
        if tiling is None:
            return
        tiles = derived_tiles(reader, tiling, view.view())
        cached = self.tiles.peek_many([key for key, _ in tiles])
        missing = [(key, req) for key, req in tiles if key not in cached]
        for key, req in missing[:self.limit]:
            if not may_go_on():
                return
            # A viewer's connections reach several workers, each of which sees the session
            # move: only one of them renders a tile.
            if not self.leases.take("render-lease", key, 10):
                continue
            # A demand request for the same tile meanwhile waits for this rendering.
            self.tiles.fill(key, lambda: self._render_one(reader, key, req, job))

    def _render_one(self, reader: SlideReader, key: str, req: RegionRequest, job: Job) -> bytes:
        with recording_reads() as read:
            data = reader.region(req)
        self.rendered.add(RENDERED, {key: 1}, {"policy": job.session.policy},
                          notes={key: self._blocks_note(read)})
        self.counters.inc("prefetch_tiles_rendered", policy=job.session.policy)
        return data

    def asked(self, key: str) -> None:
        """A viewer asked for an image by its cache key: if it was rendered ahead, it is used."""
        self.rendered.use(RENDERED, [key])

    @staticmethod
    def _blocks_note(read: dict[str, set[int]]) -> str:
        """The blocks a rendering read (`recording_reads`), as a rendered tile's ledger note:
        a line per object, its namespace and the block indices."""
        return "\n".join(f"{namespace} {','.join(map(str, sorted(indices)))}"
                         for namespace, indices in read.items())

    def _rendering_used(self, note: str) -> None:
        """A viewer got a tile rendered ahead: it used the blocks that rendering read."""
        for line in note.split("\n"):
            namespace, _, indices = line.rpartition(" ")
            self._on_blocks_used(namespace, [int(i) for i in indices.split(",")])
