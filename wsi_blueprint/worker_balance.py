"""A viewer's connections spread evenly over gunicorn's gevent workers.

A browser opens its six connections to a host at once. All workers wait on the one listening
socket, and whichever is awake first accepts, so most of them often land on one worker. Those
connections stay open for the whole viewing session, so one core renders most of its tiles
while the other idles (measured in docs/design/serving.md).

So each worker counts its open connections in memory shared by all workers, and a worker with
more than the least loaded one lets the others accept first: it stops watching the socket and
looks again DEFER_STEP later. A peer that does not accept in time (busy, stopped) must not
leave a browser waiting, so after DEFER_LIMIT the worker accepts anyway.

Wired by gunicorn hooks (`gunicorn_options` sets them): `pre_fork` gives each worker a slot in
the shared counts, in the master, so slots never clash; `post_worker_init` makes the worker's
gevent servers balancing ones and counts it from then on (a worker still loading the app does
not hold the others back); `child_exit` frees the slot.
"""

import mmap
import struct
import time

DEFER_STEP = 0.002   # seconds between looks while other workers accept first
DEFER_LIMIT = 0.02   # seconds a new connection waits at most for a less loaded worker
SLOTS = 256          # workers at most (gunicorn's workers setting)
_FREE = -1
READY = "worker ready, taking its share of connections"  # logged once a worker is counted
_COUNT = struct.Struct("q")


class WorkerBalance:
    """Open connections per worker, shared across the fork; made in the master."""

    def __init__(self) -> None:
        self._counts = mmap.mmap(-1, _COUNT.size * SLOTS)  # anonymous: shared with children
        for slot in range(SLOTS):
            self._set(slot, _FREE)

    def _get(self, slot: int) -> int:
        return _COUNT.unpack_from(self._counts, slot * _COUNT.size)[0]

    def _set(self, slot: int, value: int) -> None:
        _COUNT.pack_into(self._counts, slot * _COUNT.size, value)

    def fewest(self) -> int:
        """The open connections of the least loaded live worker."""
        return min((c for (c,) in _COUNT.iter_unpack(self._counts) if c != _FREE), default=0)

    # gunicorn hooks

    def pre_fork(self, server, worker) -> None:
        taken = {getattr(w, "balance_slot", None) for w in server.WORKERS.values()}
        worker.balance_slot = next(s for s in range(SLOTS) if s not in taken)

    def child_exit(self, server, worker) -> None:
        self._set(worker.balance_slot, _FREE)

    def post_worker_init(self, worker) -> None:
        """Make this worker's gevent servers balancing ones (they are built after this hook)."""
        from gunicorn.workers import ggevent
        if isinstance(worker, ggevent.GeventWorker):
            ggevent.StreamServer = self._server_class(ggevent.StreamServer, worker.balance_slot)
            self._set(worker.balance_slot, 0)  # counted from now: its app is loaded
            worker.log.info("%s (slot %d)", READY, worker.balance_slot)

    def _server_class(self, base: type, slot: int) -> type:
        """`base` (gevent's StreamServer) counting its connections in `slot` and deferring to
        less loaded workers. It steps into gevent's accept loop (`_do_read`, run each time the
        socket is readable, and its accept timer); the live tests in tests/ops catch a gevent
        that changes them."""
        balance = self

        class BalancingServer(base):
            _deferred_since: float | None = None

            def _do_read(self):
                now = time.monotonic()
                if balance._get(slot) > balance.fewest():
                    self._deferred_since = self._deferred_since or now
                    if now - self._deferred_since < DEFER_LIMIT:
                        self.stop_accepting()
                        self._timer = self.loop.timer(DEFER_STEP)
                        self._timer.start(self._start_accepting_if_started)
                        return
                self._deferred_since = None
                super()._do_read()

            def do_handle(self, *args):
                balance._set(slot, balance._get(slot) + 1)  # only this worker writes its slot
                super().do_handle(*args)

            def do_close(self, *args):
                balance._set(slot, balance._get(slot) - 1)
                super().do_close(*args)

        return BalancingServer
