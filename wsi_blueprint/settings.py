"""Every setting in one table: Flask config keys, also read from the environment standalone.

The table is the single source for defaults, parsing, the values each setting accepts (checked
whenever settings are built, so a wrong one fails at start with its key named) and the
documentation's configuration page (`settings_doc` writes docs/configuration.md from it; a test
checks the page is up to date).
"""

import dataclasses
import os
import urllib.parse
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
class Allowed:
    """The values a setting accepts: a test of the parsed value and how to say it."""

    test: Callable[[Any], bool]
    text: str


def _number(low: float, high: float | None = None, *, above: bool = False,
            unit: str = "") -> Allowed:
    """low <= value (or low < value, `above`) and value <= high."""
    def test(value: Any) -> bool:
        return (value > low if above else value >= low) and (high is None or value <= high)

    def show(number: float) -> str:
        return f"{number:g}{unit}"

    if high is None:
        text = f"a number above {show(low)}" if above else f"a number of {show(low)} or more"
    else:
        text = f"a number from {show(low)} to {show(high)}"
    return Allowed(test, text)


def _block_size(value: int) -> bool:
    return 4 * KiB <= value <= 64 * MiB and value & (value - 1) == 0


def _store_url(value: str) -> bool:
    url = urllib.parse.urlsplit(value)
    if url.scheme == "file":
        return url.path.startswith("/") and not url.netloc
    if url.scheme == "s3":
        return bool(url.netloc)
    return url.scheme in ("http", "https") and bool(url.netloc)


def _endpoint(value: str) -> bool:
    url = urllib.parse.urlsplit(value)
    return not value or (url.scheme in ("http", "https") and bool(url.netloc))


def _servers(value: str) -> bool:
    for part in filter(None, (p.strip() for p in value.split(","))):
        host, sep, port = part.rpartition(":")
        if sep and not (host and port.isdigit() and 0 < int(port) < 65536):
            return False
    return True


MIN_SECRET_BYTES = 16  # a short key a person chose can be guessed offline from a single token


def _secrets(value: str) -> bool:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    for part in parts:
        kid, sep, secret = part.partition(":")
        if not (kid and sep and len(secret.encode("utf-8")) >= MIN_SECRET_BYTES):
            return False
    return bool(parts) or not value


def _origins(value: str) -> bool:
    for origin in filter(None, (o.strip() for o in value.split(","))):
        if origin != "*" and not _endpoint(origin):
            return False
    return True


ANY = Allowed(lambda value: True, "any value")
POSITIVE_SECONDS = _number(0, above=True, unit=" s")
COUNT = _number(0)
AT_LEAST_ONE = _number(1)
BYTES = _number(0, unit=" bytes")


@dataclasses.dataclass(frozen=True)
class Setting:
    key: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str
    # How the documentation shows a default computed at start (the default is then a function).
    shown_default: str = ""
    allowed: Allowed = ANY
    secret: bool = False  # its value never appears in a message

    @property
    def attr(self) -> str:
        return self.key.removeprefix("WSI_").lower()


SETTINGS = (
    Setting("WSI_STORE", str, _default_store,
            "Where slides live: `file:///abs/dir`, `s3://bucket[/prefix]`, `http(s)://base/`. "
            "Default: `./slides` under the working directory.",
            allowed=Allowed(_store_url, "file:///absolute/dir, s3://bucket[/prefix] or "
                                        "http(s)://host/base/"),
            shown_default="file://$PWD/slides"),
    Setting("WSI_S3_ENDPOINT_URL", str, "",
            "S3-compatible endpoint (MinIO, Ceph, moto); empty for AWS. Credentials come from "
            "the standard AWS chain.",
            allowed=Allowed(_endpoint, "empty or http(s)://host[:port]")),
    Setting("WSI_S3_REGION", str, "us-east-1", "S3 region used for signing."),
    Setting("WSI_PRESIGN_EXPIRES", int, 3600,
            "Lifetime in seconds of the presigned URLs used to read S3 objects; a URL is "
            "signed again when less than a tenth of it remains, or after an expired 403.",
            allowed=_number(1, 604800, unit=" s")),
    Setting("WSI_STORE_CONNECT_TIMEOUT", float, 3.05, "Seconds to connect to the store.",
            allowed=POSITIVE_SECONDS),
    Setting("WSI_STORE_READ_TIMEOUT", float, 20.0,
            "Seconds the store may stay silent during one read.",
            allowed=POSITIVE_SECONDS),
    Setting("WSI_STORE_RETRIES", int, 3,
            "Retries of a failed store read (5xx, timeout, reset, short body), with "
            "exponential backoff and jitter.",
            allowed=_number(0, 20)),
    Setting("WSI_STORE_POOL_SIZE", int, 32, "Keep-alive connections per store host.",
            allowed=AT_LEAST_ONE),
    Setting("WSI_MEMCACHED", str, "",
            "`host:port[,host:port...]`; empty keeps every cache in process.",
            allowed=Allowed(_servers, "host[:port][,host[:port]...], ports from 1 to 65535")),
    Setting("WSI_MEMCACHED_TIMEOUT", float, 0.25,
            "Seconds for a memcached connect or call; past it the call counts as a miss.",
            allowed=POSITIVE_SECONDS),
    Setting("WSI_MEMCACHED_RETRY_AFTER", float, 5.0,
            "Seconds to wait before trying a memcached server again after it failed.",
            allowed=_number(0, unit=" s")),
    Setting("WSI_MEMCACHED_ITEM_LIMIT", _size, 1 * MiB,
            "Largest value stored in memcached (its -I setting); larger ones stay in process.",
            allowed=Allowed(lambda v: KiB <= v <= 1024 * MiB, "from 1K to 1G")),
    Setting("WSI_BLOCK_SIZE", _size, 256 * KiB,
            "Alignment and unit of store reads and of the block cache.",
            allowed=Allowed(_block_size, "a power of two from 4K to 64M")),
    Setting("WSI_METADATA_CACHE_BYTES", _size, 64 * MiB,
            "In-process budget for parsed slide indexes.",
            allowed=BYTES),
    Setting("WSI_BLOCK_CACHE_BYTES", _size, 256 * MiB,
            "In-process budget for raw store blocks.",
            allowed=BYTES),
    Setting("WSI_TILE_CACHE_BYTES", _size, 128 * MiB,
            "In-process budget for finished tiles.",
            allowed=BYTES),
    Setting("WSI_CACHE_POLICY", str, "slru",
            "Eviction of the in-process block and tile caches: `slru` keeps entries read twice "
            "(overview tiles, blocks many viewers share) through one-off scans; `lru` is plain.",
            allowed=Allowed(lambda v: v in ("lru", "slru"), "slru or lru")),
    Setting("WSI_JPEG_QUALITY", int, 80,
            "Quality (1-100) of JPEG tiles the server encodes; stored tiles that pass through "
            "keep the scanner's own quality.",
            allowed=_number(1, 100)),
    Setting("WSI_COLOR", lambda value: str(value).strip().lower(), "auto",
            "Colour management of served images when a request names none (`?color=`): "
            "`srgb` converts pixels with the slide's ICC profile, `embed` attaches the profile "
            "to each image (stored JPEG tiles still pass through), `raw` serves pixels as "
            "stored, `auto` embeds profiles of up to 16 KB and converts with larger ones. "
            "Slides without a profile are served raw in every mode.",
            allowed=Allowed(lambda v: v in ("auto", "srgb", "embed", "raw"),
                            "auto, srgb, embed or raw")),
    Setting("WSI_CPU_THREADS", int, 0,
            "Native threads for decoding, resampling and encoding per worker; 0 = one per core "
            "(set it to the pod's CPU limit in containers).",
            allowed=_number(0, 1024)),
    Setting("WSI_CPU_TIMEOUT", float, 30.0,
            "Seconds image work may wait for and use the CPU pool before the request gets 503.",
            allowed=POSITIVE_SECONDS),
    Setting("WSI_MAX_OUTPUT_WIDTH", int, 10000,
            "Widest image the server renders (IIIF maxWidth; larger requests are refused).",
            allowed=AT_LEAST_ONE),
    Setting("WSI_MAX_OUTPUT_HEIGHT", int, 10000, "Tallest image the server renders (maxHeight).",
            allowed=AT_LEAST_ONE),
    Setting("WSI_MAX_OUTPUT_AREA", int, 40_000_000,
            "Most pixels in one rendered image (IIIF maxArea).",
            allowed=AT_LEAST_ONE),
    Setting("WSI_SHOW_LABEL_AND_MACRO", _bool, False,
            "Serve the label and macro images, and the barcode properties that repeat the "
            "label. Off by default: they show patient names and barcodes."),
    Setting("WSI_MAX_THUMBNAIL_SIZE", int, 2048, "Largest `max_size` a thumbnail may ask for.",
            allowed=AT_LEAST_ONE),
    Setting("WSI_PROXY_FIX", int, 0,
            "Standalone: how many reverse proxies to trust for X-Forwarded-For/-Proto/-Host/"
            "-Prefix, so handed-out URLs name the public address (a host app applies "
            "werkzeug's ProxyFix itself).",
            allowed=_number(0, 10)),
    Setting("WSI_REQUEST_LOG", str, "",
            "Standalone: append every image request to this JSONL file in the benchmark's "
            "trace format (tokens stripped, sessions pseudonymous), ready to replay."),
    Setting("WSI_AUTH_SECRET", str, "",
            "Turns signed access on: `kid:secret[,kid:secret...]` (HMAC-SHA256); the first "
            "signs, all verify, so secrets rotate without cutting viewers off.",
            allowed=Allowed(_secrets, "empty or kid:secret[,kid:secret...], every secret at "
                                      f"least {MIN_SECRET_BYTES} bytes"), secret=True),
    Setting("WSI_AUTH_TOKEN_TTL", int, 900,
            "Seconds a token lives; the viewer renews it before it expires.",
            allowed=AT_LEAST_ONE),
    Setting("WSI_AUTH_SESSION_MAX", int, 43200,
            "Seconds after signing past which no renewal extends a token.",
            allowed=AT_LEAST_ONE),
    Setting("WSI_SIGN_KEY", str, "",
            "Standalone only: the admin key (`Authorization: Bearer`) that may POST /sign. A "
            "host app guards /sign with its own `authorize` hook instead.", secret=True),
    Setting("WSI_CORS_ORIGINS", str, "*", "Allowed CORS origins, comma separated; `*` for any.",
            allowed=Allowed(_origins, "* or http(s)://host[:port] origins, comma separated")),
    Setting("WSI_FRAME_ANCESTORS", str, "'self'",
            "Who may embed the viewer and gallery pages in a frame: CSP `frame-ancestors` "
            "sources, space separated (`'self' https://lims.example.org`; `'none'` for nobody)."),
    Setting("WSI_PREFETCH", _bool, True, "`on` or `off`: warm caches ahead of the viewer."),
    Setting("WSI_PREFETCH_BUDGET", _size, 50 * MiB,
            "Bytes one viewing session may prefetch from the store.",
            allowed=BYTES),
    Setting("WSI_PREFETCH_RATE", int, 1000,
            "Store requests per minute that all prefetching of a worker may make.",
            allowed=COUNT),
    Setting("WSI_PREFETCH_CONCURRENCY", int, 4, "Background prefetch workers per process.",
            allowed=_number(1, 64)),
    Setting("WSI_PREFETCH_HISTORY", int, 5, "Operations (pan, zoom, jump) the model learns from.",
            allowed=_number(1, 100)),
    Setting("WSI_PREFETCH_CONFIDENCE", float, 0.7,
            "Probability a predicted operation needs before its tiles are fetched.",
            allowed=_number(0, 1)),
    Setting("WSI_PREFETCH_BURST_GAP", float, 0.15,
            "Seconds without a request that end a burst: the viewer has settled on a view, and "
            "the prefetcher plans for the next move. Longer than the gaps between an "
            "animation's frames, shorter than a look.",
            allowed=POSITIVE_SECONDS),
    Setting("WSI_PREFETCH_CONTROL_PERIOD", float, 5.0,
            "Seconds between the control loop's decisions (read size, depth, throttling); a "
            "change needs its condition in two periods running.",
            allowed=POSITIVE_SECONDS),
    Setting("WSI_PREFETCH_READ_SIZE", _size, 1 * MiB,
            "Largest unit store reads are rounded out to while prefetch is on: the control loop "
            "starts here and halves it (down to one block) while viewers leave most of what "
            "was read ahead unused. `WSI_BLOCK_SIZE` reads no more than asked. Unset, it is "
            "1M or `WSI_BLOCK_SIZE` if that is larger.",
            allowed=Allowed(_block_size, "a power of two from 4K to 64M, a multiple of "
                                         "WSI_BLOCK_SIZE")),
    Setting("WSI_PREFETCH_POLICIES", str, "full:100",
            "A/B shares of prefetch policies per viewing session: `off`, `viewport` (follow "
            "moves only), `full` (also overview and case rules), e.g. `off:50,full:50`."),
    Setting("WSI_COST_PER_1000_REQUESTS", float, 0.0004,
            "Price of 1,000 store GET requests (S3 Standard), for cost accounting.",
            allowed=_number(0)),
    Setting("WSI_COST_PER_GB", float, 0.0,
            "Price per GB read from the store (0 in the bucket's region; set your egress "
            "price otherwise).",
            allowed=_number(0)),
    Setting("WSI_PREFETCH_RULES", str, "",
            "YAML file of clinical-context rules (see conf/prefetch-rules.yaml); a file with "
            "errors stops the server at start."),
)


class SettingError(ValueError):
    """A setting with a value it does not accept: one line naming the key and what it takes."""

    def __init__(self, setting: Setting, value: Any) -> None:
        shown = " (value hidden)" if setting.secret else f"={value!r}"
        super().__init__(f"{setting.key}{shown} is not allowed: expected "
                         f"{setting.allowed.text}")
        self.key = setting.key


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
    color: str
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
        """Every value parsed and checked against its allowed values; the first one that is
        wrong raises a SettingError naming the key and what it accepts."""
        values = {}
        for setting in SETTINGS:
            raw = mapping.get(setting.key)
            if raw is None or raw == "":
                default = setting.default
                values[setting.attr] = default() if callable(default) else default
                continue
            try:
                values[setting.attr] = setting.parse(raw)
            except (TypeError, ValueError):
                raise SettingError(setting, raw) from None
        values.update(overrides)
        if not mapping.get("WSI_PREFETCH_READ_SIZE") and "prefetch_read_size" not in overrides:
            # the default read size never falls below a larger block size the operator chose
            values["prefetch_read_size"] = max(values["prefetch_read_size"], values["block_size"])
        for setting in SETTINGS:
            value = values[setting.attr]
            if not setting.allowed.test(value):
                raise SettingError(setting, mapping.get(setting.key, value))
        if values["prefetch_read_size"] % values["block_size"]:
            read_size = next(s for s in SETTINGS if s.key == "WSI_PREFETCH_READ_SIZE")
            raise SettingError(read_size, mapping.get(read_size.key, values[read_size.attr]))
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
