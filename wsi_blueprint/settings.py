"""Every setting in one table: Flask config keys, also read from the environment standalone.

The table is the single source for defaults, parsing and the README's configuration section
(a test checks that the README names every key).
"""

import dataclasses
import os
from typing import Any, Callable, Mapping

KiB = 1024
MiB = 1024 * KiB


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _size(value: Any) -> int:
    """Byte sizes as integers or with a K/M/G suffix (binary units): '256K', '1.5G'."""
    if isinstance(value, int):
        return value
    text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": KiB, "M": MiB, "G": 1024 * MiB}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _default_store() -> str:
    return "file://" + os.path.abspath("slides")


@dataclasses.dataclass(frozen=True)
class Setting:
    key: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str

    @property
    def attr(self) -> str:
        return self.key.removeprefix("WSI_").lower()


SETTINGS = (
    Setting("WSI_STORE", str, _default_store,
            "Where slides live: `file:///abs/dir`, `s3://bucket[/prefix]`, `http(s)://base/`. "
            "Default: `./slides` under the working directory."),
    Setting("WSI_S3_ENDPOINT_URL", str, "",
            "S3-compatible endpoint (MinIO, Ceph, moto); empty for AWS. Credentials come from "
            "the standard AWS chain."),
    Setting("WSI_S3_REGION", str, "us-east-1", "S3 region used for signing."),
    Setting("WSI_PRESIGN_EXPIRES", int, 3600,
            "Lifetime in seconds of the presigned URLs used to read S3 objects; a URL is "
            "signed again when less than a tenth of it remains, or after an expired 403."),
    Setting("WSI_STORE_CONNECT_TIMEOUT", float, 3.05, "Seconds to connect to the store."),
    Setting("WSI_STORE_READ_TIMEOUT", float, 20.0,
            "Seconds the store may stay silent during one read."),
    Setting("WSI_STORE_RETRIES", int, 3,
            "Retries of a failed store read (5xx, timeout, reset, short body), with "
            "exponential backoff and jitter."),
    Setting("WSI_STORE_POOL_SIZE", int, 32, "Keep-alive connections per store host."),
    Setting("WSI_MEMCACHED", str, "",
            "`host:port[,host:port...]`; empty keeps every cache in process."),
    Setting("WSI_MEMCACHED_TIMEOUT", float, 0.25,
            "Seconds for a memcached connect or call; past it the call counts as a miss."),
    Setting("WSI_MEMCACHED_RETRY_AFTER", float, 5.0,
            "Seconds to wait before trying a memcached server again after it failed."),
    Setting("WSI_MEMCACHED_ITEM_LIMIT", _size, 1 * MiB,
            "Largest value stored in memcached (its -I setting); larger ones stay in process."),
    Setting("WSI_BLOCK_SIZE", _size, 256 * KiB,
            "Alignment and unit of store reads and of the block cache."),
    Setting("WSI_METADATA_CACHE_BYTES", _size, 64 * MiB,
            "In-process budget for parsed slide indexes."),
    Setting("WSI_BLOCK_CACHE_BYTES", _size, 256 * MiB,
            "In-process budget for raw store blocks."),
    Setting("WSI_TILE_CACHE_BYTES", _size, 128 * MiB,
            "In-process budget for finished tiles."),
    Setting("WSI_CACHE_POLICY", str, "slru",
            "Eviction of the in-process block and tile caches: `slru` keeps entries read twice "
            "(overview tiles, blocks many viewers share) through one-off scans; `lru` is plain."),
    Setting("WSI_JPEG_QUALITY", int, 80,
            "Quality (1-100) of JPEG tiles the server encodes; stored tiles that pass through "
            "keep the scanner's own quality."),
    Setting("WSI_CPU_THREADS", int, 0,
            "Native threads for decoding, resampling and encoding per worker; 0 = one per core "
            "(set it to the pod's CPU limit in containers)."),
    Setting("WSI_CPU_TIMEOUT", float, 30.0,
            "Seconds image work may wait for and use the CPU pool before the request gets 503."),
    Setting("WSI_MAX_OUTPUT_WIDTH", int, 10000,
            "Widest image the server renders (IIIF maxWidth; larger requests are refused)."),
    Setting("WSI_MAX_OUTPUT_HEIGHT", int, 10000, "Tallest image the server renders (maxHeight)."),
    Setting("WSI_MAX_OUTPUT_AREA", int, 40_000_000,
            "Most pixels in one rendered image (IIIF maxArea)."),
    Setting("WSI_SHOW_LABEL_AND_MACRO", _bool, False,
            "Serve the label and macro images. Off by default: they show patient names and "
            "barcodes."),
    Setting("WSI_MAX_THUMBNAIL_SIZE", int, 2048, "Largest `max_size` a thumbnail may ask for."),
    Setting("WSI_PROXY_FIX", int, 0,
            "Standalone: how many reverse proxies to trust for X-Forwarded-For/-Proto/-Host/"
            "-Prefix, so handed-out URLs name the public address (a host app applies "
            "werkzeug's ProxyFix itself)."),
    Setting("WSI_REQUEST_LOG", str, "",
            "Standalone: append every image request to this JSONL file in the benchmark's "
            "trace format (tokens stripped, sessions pseudonymous), ready to replay."),
    Setting("WSI_AUTH_SECRET", str, "",
            "Turns signed access on: `kid:secret[,kid:secret...]` (HMAC-SHA256); the first "
            "signs, all verify, so secrets rotate without cutting viewers off."),
    Setting("WSI_AUTH_TOKEN_TTL", int, 900,
            "Seconds a token lives; the viewer renews it before it expires."),
    Setting("WSI_AUTH_SESSION_MAX", int, 43200,
            "Seconds after signing past which no renewal extends a token."),
    Setting("WSI_SIGN_KEY", str, "",
            "Standalone only: the admin key (`Authorization: Bearer`) that may POST /sign. A "
            "host app guards /sign with its own `authorize` hook instead."),
    Setting("WSI_CORS_ORIGINS", str, "*", "Allowed CORS origins, comma separated; `*` for any."),
    Setting("WSI_FRAME_ANCESTORS", str, "'self'",
            "Who may embed the viewer and gallery pages in a frame: CSP `frame-ancestors` "
            "sources, space separated (`'self' https://lims.example.org`; `'none'` for nobody)."),
    Setting("WSI_PREFETCH", _bool, True, "`on` or `off`: warm caches ahead of the viewer."),
    Setting("WSI_PREFETCH_BUDGET", _size, 50 * MiB,
            "Bytes one viewing session may prefetch from the store."),
    Setting("WSI_PREFETCH_RATE", int, 1000,
            "Store requests per minute that all prefetching of a worker may make."),
    Setting("WSI_PREFETCH_CONCURRENCY", int, 4, "Background prefetch workers per process."),
    Setting("WSI_PREFETCH_HISTORY", int, 5, "Operations (pan, zoom, jump) the model learns from."),
    Setting("WSI_PREFETCH_CONFIDENCE", float, 0.7,
            "Probability a predicted operation needs before its tiles are fetched."),
    Setting("WSI_PREFETCH_BURST_GAP", float, 0.15,
            "Seconds without a request that end a burst: the viewer has settled on a view, and "
            "the prefetcher plans for the next move. Longer than the gaps between an "
            "animation's frames, shorter than a look."),
    Setting("WSI_PREFETCH_CONTROL_PERIOD", float, 5.0,
            "Seconds between the control loop's decisions (read size, depth, throttling); a "
            "change needs its condition in two periods running."),
    Setting("WSI_PREFETCH_READ_SIZE", _size, 1 * MiB,
            "Largest unit store reads are rounded out to while prefetch is on: the control loop "
            "starts here and halves it (down to one block) while viewers leave most of what "
            "was read ahead unused. `WSI_BLOCK_SIZE` reads no more than asked."),
    Setting("WSI_PREFETCH_POLICIES", str, "full:100",
            "A/B shares of prefetch policies per viewing session: `off`, `viewport` (follow "
            "moves only), `full` (also overview and case rules), e.g. `off:50,full:50`."),
    Setting("WSI_COST_PER_1000_REQUESTS", float, 0.0004,
            "Price of 1,000 store GET requests (S3 Standard), for cost accounting."),
    Setting("WSI_COST_PER_GB", float, 0.0,
            "Price per GB read from the store (0 in the bucket's region; set your egress "
            "price otherwise)."),
    Setting("WSI_PREFETCH_RULES", str, "",
            "YAML file of clinical-context rules (see conf/prefetch-rules.yaml); a file with "
            "errors stops the server at start."),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Parsed settings; build with `Settings.from_mapping(app.config)` or `from_env()`."""

    store: str
    s3_endpoint_url: str
    s3_region: str
    presign_expires: int
    store_connect_timeout: float
    store_read_timeout: float
    store_retries: int
    store_pool_size: int
    memcached: str
    memcached_timeout: float
    memcached_retry_after: float
    memcached_item_limit: int
    block_size: int
    metadata_cache_bytes: int
    block_cache_bytes: int
    tile_cache_bytes: int
    cache_policy: str
    jpeg_quality: int
    cpu_threads: int
    cpu_timeout: float
    max_output_width: int
    max_output_height: int
    max_output_area: int
    show_label_and_macro: bool
    max_thumbnail_size: int
    proxy_fix: int
    request_log: str
    auth_secret: str
    auth_token_ttl: int
    auth_session_max: int
    sign_key: str
    cors_origins: str
    frame_ancestors: str
    prefetch: bool
    prefetch_budget: int
    prefetch_rate: int
    prefetch_concurrency: int
    prefetch_history: int
    prefetch_confidence: float
    prefetch_burst_gap: float
    prefetch_control_period: float
    prefetch_read_size: int
    prefetch_policies: str
    cost_per_1000_requests: float
    cost_per_gb: float
    prefetch_rules: str

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], **overrides: Any) -> "Settings":
        values = {}
        for setting in SETTINGS:
            raw = mapping.get(setting.key)
            if raw is None or raw == "":
                default = setting.default
                values[setting.attr] = default() if callable(default) else default
                continue
            try:
                values[setting.attr] = setting.parse(raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{setting.key}: {exc}") from None
        values.update(overrides)
        if values["prefetch_read_size"] % values["block_size"]:
            raise ValueError("WSI_PREFETCH_READ_SIZE: expected a multiple of WSI_BLOCK_SIZE")
        if values["prefetch_burst_gap"] <= 0:
            raise ValueError("WSI_PREFETCH_BURST_GAP: expected a positive number of seconds")
        if values["cache_policy"] not in ("lru", "slru"):
            raise ValueError("WSI_CACHE_POLICY: expected 'lru' or 'slru'")
        return cls(**values)

    @classmethod
    def from_env(cls, **overrides: Any) -> "Settings":
        return cls.from_mapping(os.environ, **overrides)

    def memcached_servers(self) -> list[tuple[str, int]]:
        servers = []
        for part in filter(None, (p.strip() for p in self.memcached.split(","))):
            host, _, port = part.rpartition(":")
            servers.append((host or part, int(port) if host else 11211))
        return servers
