"""`wsi-blueprint`: the command line. `serve` starts the standalone server.

`serve` runs inside the gunicorn master, which forks the gevent workers: nothing here may
import ssl, urllib3, requests, botocore, pymemcache or prometheus_client before the workers
have patched the standard library, so every import is made inside the command that needs it.
"""

import argparse
import os
import socket
import subprocess
import sys
import urllib.parse

LIST_TIMEOUT = 60.0  # seconds the start-up listing of the store may take


def _store_url(where: str) -> str:
    """A store URL as given, or a folder path made a file:// URL."""
    if urllib.parse.urlsplit(where).scheme in ("s3", "http", "https", "file"):
        return where
    return "file://" + os.path.abspath(where)


def _local_folder(store: str) -> str | None:
    url = urllib.parse.urlsplit(store)
    return urllib.parse.unquote(url.path) if url.scheme == "file" else None


def _listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound here so that a taken port is one clear line
    and the URLs printed name a port that is ours; gunicorn takes it over (fd://)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


def print_first_slide() -> None:
    """Print the first slide id the store of WSI_* lists (nothing if it lists none), or the
    reason it cannot list on stderr."""
    from .counters import Counters
    from .errors import WSIError
    from .settings import Settings
    from .storage import open_store

    try:
        page = open_store(Settings.from_env(), Counters()).list(limit=1)
    except WSIError as error:
        print(error.message, file=sys.stderr)
        return
    if page.slides:
        print(page.slides[0].id)


def _first_slide() -> tuple[str | None, str]:
    """(first slide id or None, why not). Asked in a child process: listing S3 or HTTPS
    imports the store's clients, which must not be loaded in the gunicorn master."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from wsi_blueprint.cli import print_first_slide; "
                                   "print_first_slide()"],
            capture_output=True, text=True, timeout=LIST_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"the store did not answer within {LIST_TIMEOUT:g} s"
    first = done.stdout.strip()
    if done.returncode == 0 and first:
        return first, ""
    reason = done.stderr.strip().splitlines()
    return None, reason[-1] if reason else "the store lists no slides"


def _serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from .serving import gunicorn_options, prepare_metrics_dir, settings_or_exit
    from .viewer import assets

    where = args.store or args.slides
    if where:
        os.environ["WSI_STORE"] = _store_url(where)
    elif not os.environ.get("WSI_STORE"):
        os.environ["WSI_STORE"] = _store_url(os.environ.get("WSI_SLIDES_DIR", "slides"))
    store = os.environ["WSI_STORE"]
    settings_or_exit()

    folder = _local_folder(store)
    if folder is not None:
        os.makedirs(folder, exist_ok=True)
        if not [f for f in os.listdir(folder) if not f.startswith(".")]:
            from .sample import SAMPLE_NAME, write_sample
            write_sample(os.path.join(folder, SAMPLE_NAME))
            print(f"the folder was empty: wrote a synthetic demo slide, {SAMPLE_NAME}",
                  flush=True)
    if not assets.installed():
        try:
            assets.install()
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            print(f"the viewer's OpenSeadragon files could not be fetched: {error}",
                  file=sys.stderr, flush=True)

    try:
        listener = _listen(args.host, args.port)
    except OSError as error:
        print(f"wsi-blueprint serve: cannot listen on {args.host}:{args.port}: "
              f"{error.strerror or error}", file=sys.stderr, flush=True)
        return 1
    port = listener.getsockname()[1]
    prepare_metrics_dir()
    options = gunicorn_options()
    options["bind"] = f"fd://{listener.fileno()}"
    if args.workers:
        options["workers"] = args.workers

    class Server(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from gevent import monkey
            monkey.patch_all()
            from .app import create_app
            return create_app()

    host = args.host if args.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    first, why_not = _first_slide()
    print(f"wsi_blueprint serving {store} at {base}/", flush=True)
    print(f"  gallery: {base}/", flush=True)
    print(f"  slide list: {base}/slides", flush=True)
    if first:
        print(f"  viewer: {base}/view/{urllib.parse.quote(first)}", flush=True)
    else:
        print(f"  viewer: {base}/view/<slide id> ({why_not})", flush=True)
    Server().run()
    return 0


def _check(args: argparse.Namespace) -> int:
    from .check import run_all

    steps = run_all(os.environ, args.slide)
    for step in steps:
        print(step.line(), flush=True)
    return 1 if any(step.outcome == "FAIL" for step in steps) else 0


def _sign(args: argparse.Namespace) -> int:
    import json
    import time

    from .security.tokens import TokenSigner, parse_secrets
    from .settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if not settings.auth_secret:
        print("WSI_AUTH_SECRET is not set: access control is off, no token is needed",
              file=sys.stderr)
        return 2
    now = int(time.time())
    token = TokenSigner(parse_secrets(settings.auth_secret)).sign(
        args.slide, prefix=args.prefix, expires_in=args.ttl or settings.auth_token_ttl,
        session_end=now + settings.auth_session_max, now=now)
    answer = {"token": token, "expires_at": now + (args.ttl or settings.auth_token_ttl)}
    if args.base_url:
        under_token = f"{args.base_url.rstrip('/')}/t/{token}"
        if args.prefix:
            answer["slides"] = f"{under_token}/slides?prefix={urllib.parse.quote(args.slide)}"
        else:
            answer["viewer"] = f"{under_token}/view/{urllib.parse.quote(args.slide)}"
    print(json.dumps(answer, indent=1))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench.suite import run_from_args

    return run_from_args(args)


def _version() -> str:
    from . import __version__

    return f"wsi-blueprint {__version__}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="wsi-blueprint", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the standalone server on a store")
    serve.add_argument("store", nargs="?",
                       help="s3://bucket[/prefix], https://base/, file:///dir or a folder "
                            "(default: WSI_STORE, else ./slides)")
    serve.add_argument("--slides", help="folder of slides (the same as giving it as STORE)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free one")
    serve.add_argument("--workers", type=int, default=0, help="default: one per core")
    serve.set_defaults(run=_serve)
    check = commands.add_parser("check", help="walk the data path once (settings from WSI_*)")
    check.add_argument("--slide", help="slide id to open (default: the first one listed)")
    check.set_defaults(run=_check)
    sign = commands.add_parser("sign", help="mint an access token (WSI_AUTH_SECRET)")
    sign.add_argument("slide", help="slide id, or an id prefix with --prefix")
    sign.add_argument("--prefix", action="store_true", help="grant every id under the prefix")
    sign.add_argument("--ttl", type=int, default=0, help="seconds (default WSI_AUTH_TOKEN_TTL)")
    sign.add_argument("--base-url", help="also print the viewer URL (with --prefix: the "
                                         "slide list's) under this base")
    sign.set_defaults(run=_sign)
    bench = commands.add_parser("bench", help="benchmark on generated or your own slides, "
                                "beside OpenSlide and tiffslide; writes a report")
    if argv[:1] == ["bench"]:  # its options import the benchmark's modules: only for bench
        from .bench.suite import add_arguments as add_bench_arguments
        add_bench_arguments(bench)
    bench.set_defaults(run=_bench)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
