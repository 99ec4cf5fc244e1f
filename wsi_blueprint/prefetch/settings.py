"""The prefetcher's knobs (the blueprint's `WSI_PREFETCH_*` settings set the main ones)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class PrefetchSettings:
    session_budget: int = 50 * 2 ** 20    # bytes a session may prefetch
    rate_per_minute: int = 1000           # store requests all prefetching may make
    concurrency: int = 4                  # background workers
    history: int = 5                      # operations the model learns from
    confidence: float = 0.7               # probability an operation needs to be fetched for
    burst_gap: float = 0.15               # seconds of quiet that end a burst of requests
    render_tiles: int = 64                # resampled tiles one viewport job renders at most
    frame_demand: int = 6                 # zoom frames are skipped above this demand in flight
    overview_tiles: int = 64              # a stored level this small is fetched whole
    session_ttl: float = 900.0
    max_sessions: int = 10_000
    max_queue: int = 256                  # jobs waiting; more are dropped, newest kept
    demand_wait: float = 0.5              # longest a job waits for demand to pause, or is dropped
    policies: tuple = (("full", 1.0),)    # A/B shares of off / viewport / full
    control_period: float = 5.0           # seconds between control loop decisions
    read_size: int = 2 ** 20              # largest store read unit (a multiple of the block)
