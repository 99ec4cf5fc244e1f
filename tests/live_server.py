"""The real standalone server in a subprocess, for browser, ops and load tests.

The implementation lives in the package (the benchmark suite runs it too):
see `wsi_blueprint.bench.live_server`.
"""

from wsi_blueprint.bench.live_server import REPO_ROOT, GunicornServer, LiveServer  # noqa: F401
