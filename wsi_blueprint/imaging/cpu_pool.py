"""A bounded pool of native threads for CPU work (decode, resample, encode).

Under gevent every request is a greenlet on one event loop: a 50 ms resize run inline would
stall every other request of the worker for those 50 ms. The codecs (libjpeg-turbo, openjpeg,
zlib) and Pillow release the GIL, so running them in native threads keeps the loop free and
uses every core. Once gevent has patched `threading`, a ThreadPoolExecutor would run its jobs
in greenlets on the loop itself, so gevent's own native `ThreadPool` is used then; a greenlet
waiting on it yields to the loop. Without gevent (a host app's threads, tests) a plain
ThreadPoolExecutor does the same job.

Every wait is bounded: a request that cannot get its CPU work done in time gets `CpuBusy` (503),
never an unbounded queue. A job already running when its caller gives up finishes in the
background (native threads cannot be interrupted); a job still queued is dropped.

Jobs must not import modules for the first time: under gevent the import locks are gevent
locks, and native threads importing at once stall or deadlock on them. Load lazily-loading
libraries (imagecodecs codecs, Pillow plugins) at import time, as decode and encode do.
"""

import concurrent.futures
import contextlib
import contextvars
import os
import sys
import threading
import time
from typing import Any, Callable, Iterable, Iterator, TypeVar

from ..errors import Busy, WSIError
from ..timing import phase

T = TypeVar("T")


class _Refused:
    """A job's WSIError (a corrupt tile: 422) carried back as a value. gevent's pool prints
    every exception a job raises as a crash; this one is an answer for the client."""

    def __init__(self, error: WSIError):
        self.error = error


DEFAULT_TIMEOUT = 30.0


class CpuBusy(Busy):
    """The CPU pool could not finish the work in time: the server is overloaded."""


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def _native_local() -> threading.local:
    """A thread-local of native threads even when gevent made `threading.local` greenlet-local."""
    if _gevent_patched():
        return sys.modules["gevent.monkey"].get_original("threading", "local")()
    return threading.local()


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class CpuPool:
    def __init__(self, threads: int | None = None, timeout: float = DEFAULT_TIMEOUT):
        self.threads = threads or default_threads()
        self.timeout = timeout
        self.uses_gevent = _gevent_patched()
        self._local = _native_local()
        if self.uses_gevent:
            from gevent.threadpool import ThreadPool
            self._pool = ThreadPool(maxsize=self.threads)
        else:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.threads, thread_name_prefix="wsi-cpu")

    def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """fn(*args) in a pool thread; the caller (thread or greenlet) waits at most `timeout`."""
        return self.map(lambda _: fn(*args), [None], timeout=timeout)[0]

    def map(self, fn: Callable[[Any], T], items: Iterable[Any],
            timeout: float | None = None) -> list[T]:
        """[fn(item) for item in items], spread over the pool, all done within `timeout`.

        A call made from a pool thread runs inline: queueing it would let a full pool wait on
        itself.
        """
        items = list(items)
        if getattr(self._local, "worker", False):
            return [fn(item) for item in items]
        timeout = self.timeout if timeout is None else timeout
        if self.uses_gevent:
            return self._map_gevent(fn, items, timeout)
        return self._map_threads(fn, items, timeout)

    def _in_worker(self, fn: Callable[[Any], T], item: Any) -> T:
        self._local.worker = True
        _current.set(self)  # a nested run_cpu in this thread finds this pool, and runs inline
        return fn(item)

    def _in_worker_gevent(self, fn: Callable[[Any], T], item: Any) -> "T | _Refused":
        try:
            return self._in_worker(fn, item)
        except WSIError as error:
            return _Refused(error)

    def _busy(self, timeout: float) -> CpuBusy:
        return CpuBusy(f"image processing did not finish within {timeout:g} s; "
                       "the server is busy, try again")

    def _map_gevent(self, fn, items, timeout):
        import gevent
        # spawn() waits for a free thread, get() for the result: one timer bounds both.
        with gevent.Timeout(timeout, self._busy(timeout)):
            results = [self._pool.spawn(self._in_worker_gevent, fn, item) for item in items]
            values = [result.get() for result in results]
        for value in values:
            if isinstance(value, _Refused):
                raise value.error
        return values

    def _map_threads(self, fn, items, timeout):
        deadline = time.monotonic() + timeout
        futures = [self._executor.submit(self._in_worker, fn, item) for item in items]
        try:
            return [f.result(timeout=max(0.0, deadline - time.monotonic())) for f in futures]
        except concurrent.futures.TimeoutError:
            raise self._busy(timeout) from None
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        if self.uses_gevent:
            self._pool.kill()
        else:
            self._executor.shutdown(wait=False, cancel_futures=True)


_default: CpuPool | None = None
_default_lock = threading.Lock()
# The pool of the blueprint serving the current request or job (see `using`); none: the default.
_current: contextvars.ContextVar[CpuPool | None] = contextvars.ContextVar("wsi_cpu_pool",
                                                                          default=None)


@contextlib.contextmanager
def using(pool: CpuPool | None) -> Iterator[None]:
    """`run_cpu` and `map_cpu` use `pool` inside the block (a blueprint's own pool, so that two
    blueprints in one app never share or reconfigure each other's); None keeps the current."""
    if pool is None:
        yield
        return
    token = _current.set(pool)
    try:
        yield
    finally:
        _current.reset(token)


def current_pool() -> CpuPool:
    return _current.get() or default_pool()


def configure(threads: int | None = None, timeout: float = DEFAULT_TIMEOUT) -> CpuPool:
    """Replace the process's pool (at app start, after gevent's monkey patching, if any)."""
    global _default
    with _default_lock:
        old, _default = _default, CpuPool(threads, timeout)
    if old is not None:
        old.close()
    return _default


def default_pool() -> CpuPool:
    """The process's pool, made on first use so it sees whether gevent has patched threading."""
    global _default
    with _default_lock:
        if _default is None:
            _default = CpuPool()
        return _default


def _phase_name(fn: Callable) -> str:
    """The Server-Timing name of a job: its function's name ('decode', 'encode', ...)."""
    return getattr(getattr(fn, "func", fn), "__name__", "cpu").strip("_")


def run_cpu(fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    with phase(_phase_name(fn)):
        return current_pool().run(fn, *args, timeout=timeout)


def map_cpu(fn: Callable[[Any], T], items: Iterable[Any], timeout: float | None = None) -> list[T]:
    with phase(_phase_name(fn)):
        return current_pool().map(fn, items, timeout=timeout)


def _forget_after_fork() -> None:
    """A forked child (a gunicorn worker) inherits the pool object but not its threads."""
    global _default, _default_lock
    _default = None
    _default_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
