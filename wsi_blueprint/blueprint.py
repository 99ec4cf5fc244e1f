"""The blueprint factory: one call gives a host app everything, mounted wherever it likes.

    app.register_blueprint(create_blueprint(), url_prefix="/pathology")

Settings come from the argument or, at registration, from the app's config (`WSI_*` keys).
"""

import logging
import time
from typing import Any, Callable

from flask import Blueprint, Response, g, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

from .caches.flask_cache import backend_of
from .errors import WSIError
from . import metrics, timing
from .protocols import dzi, gallery, iiif, openapi, ops, rest, signing, viewer
from .protocols.context import EXTENSION, state
from .protocols.cors import add_cors_headers, cors_options
from .protocols.errors import handle_http_exception, handle_unexpected
from .security.access import TOKEN_PREFIX, check_request, pull_path_token, push_url_token
from .prefetch.context import CaseContextProvider
from .settings import Settings
from .state import Authorize, WSIState

log = logging.getLogger(__name__)


class _WSIBlueprint(Blueprint):
    """Every route also exists under `/t/<token>`, for viewers that can only carry a token in
    the path. The token form is added first so that `url_for` given a token builds it."""

    def add_url_rule(self, rule, endpoint=None, view_func=None, **options):
        super().add_url_rule(TOKEN_PREFIX + rule, endpoint, view_func, **options)
        super().add_url_rule(rule, endpoint, view_func, **options)


IMAGE_ENDPOINTS = {"dzi_tile", "iiif3_image", "iiif2_image", "native_tile", "slide_thumbnail"}
# An error met by the standalone app's DirectTiles (direct_tiles.py) answering this request,
# raised here so that the client gets this blueprint's answer to it.
ERROR_KEY = "wsi_blueprint.error"


def _before() -> None:
    """Starts the request's clock and demand count, checks its access, then raises the error
    DirectTiles met (one hook: each costs a call on every request)."""
    flask_g = g._get_current_object()  # bound once: each use of the proxy costs a lookup
    flask_g.wsi_started = time.perf_counter()
    flask_g.wsi_timing = timing.begin()
    wsi = state()
    prefetcher = wsi.prefetcher
    if prefetcher is not None and (request.endpoint or "").rsplit(".", 1)[-1] in IMAGE_ENDPOINTS:
        prefetcher.demand_started()  # prefetch waits while demand requests are in flight
        flask_g.wsi_demand = prefetcher
    if wsi.signer is not None:
        check_request(wsi.signer)
    error = request.environ.pop(ERROR_KEY, None)
    if error is not None:
        raise error


def _end_demand(error: BaseException | None) -> None:
    prefetcher = g.pop("wsi_demand", None)
    if prefetcher is not None:
        prefetcher.demand_ended()


def count_answer(wsi: WSIState, endpoint: str, status: int, policy: str, source: str,
                 seconds: float) -> None:
    """An answered request in /metrics: its latency by route, and an image's source."""
    metrics.observe_request(endpoint, status, policy, seconds)
    if endpoint in IMAGE_ENDPOINTS and status in (200, 304):
        wsi.counters.inc("tile_requests", policy=policy or "none", source=source)


def _record_request(response: Response) -> Response:
    """Latency per route for /metrics, and where the time went for the browser's dev tools."""
    flask_g = g._get_current_object()
    started = flask_g.pop("wsi_started", None)
    if started is not None:
        record = timing.end(flask_g.pop("wsi_timing"))
        source = "store" if "store" in record else "cache"
        record["total"] = time.perf_counter() - started
        count_answer(state(), (request.endpoint or "unknown").rsplit(".", 1)[-1],
                     response.status_code, flask_g.pop("wsi_policy", ""), source,
                     record["total"])
        response.headers["Server-Timing"] = timing.server_timing(record)
    return response


# What _finish adds to an image response; direct_tiles.py adds them as they are.
HARDENING_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))


def _finish(response: Response) -> Response:
    """Hardening, CORS, then the request's figures (one hook, in that order)."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return _record_request(add_cors_headers(response))


def create_blueprint(name: str = "wsi", *, settings: Settings | None = None,
                     resolve: Callable[[str], str | None] | None = None,
                     authorize: Authorize | None = None,
                     case_context: CaseContextProvider | None = None,
                     cache: Any = None) -> Blueprint:
    """`resolve(slide_id) -> url or None` plugs in a host's own signed URLs instead of a store;
    `authorize(request, slide_id) -> bool` decides who may POST /sign for a token;
    `case_context(slide_id) -> CaseContext or None` gives the prefetcher the host's cases;
    `cache`, the host's flask_caching.Cache (initialised on the app before the blueprint is
    registered), is the shared tier of every cache in place of WSI_MEMCACHED."""
    bp = _WSIBlueprint(name, __name__, static_folder=viewer.STATIC,
                       static_url_path="/viewer/static", template_folder=viewer.TEMPLATES)

    def setup(setup_state: BlueprintSetupState) -> None:
        app = setup_state.app
        full_name = ".".join(filter(None, (setup_state.name_prefix, setup_state.name)))
        wsi = settings or Settings.from_mapping(app.config)
        host_cache = None
        if cache is not None:
            host_cache = backend_of(cache, app.extensions.get("cache", {}))
            if wsi.memcached:
                log.warning("WSI_MEMCACHED is ignored: the host app's cache is the shared tier")
        app.extensions.setdefault(EXTENSION, {})[full_name] = WSIState.build(
            wsi, resolve, cors_options(app, wsi), authorize, case_context, host_cache)

    bp.record(setup)
    bp.url_value_preprocessor(pull_path_token)
    bp.url_defaults(push_url_token)
    bp.before_request(_before)
    bp.after_request(_finish)
    bp.teardown_request(_end_demand)
    bp.register_error_handler(WSIError, viewer.handle_error)
    bp.register_error_handler(HTTPException, handle_http_exception)
    bp.register_error_handler(Exception, handle_unexpected)
    for routes in (rest, dzi, iiif, viewer, gallery, signing, ops, openapi):
        routes.register(bp)
    return bp
