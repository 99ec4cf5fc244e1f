"""`wsi-blueprint`: the command line. `serve` starts the standalone server."""

import argparse
import os
import sys


def _serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from .serving import gunicorn_options, prepare_metrics_dir

    from .sample import SAMPLE_NAME, write_sample
    from .viewer import assets

    folder = os.path.abspath(args.slides)
    os.makedirs(folder, exist_ok=True)
    if not [f for f in os.listdir(folder) if not f.startswith(".")]:
        write_sample(os.path.join(folder, SAMPLE_NAME))
        print(f"the folder was empty: wrote a synthetic demo slide, {SAMPLE_NAME}", flush=True)
    assets.install()
    os.environ.setdefault("WSI_STORE", "file://" + folder)
    prepare_metrics_dir()
    options = gunicorn_options()
    options["bind"] = f"{args.host}:{args.port}"
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

    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '') else args.host}:{args.port}"
    slides = sorted(f for f in os.listdir(folder) if not f.startswith("."))
    print(f"wsi_blueprint serving {folder} at {base}/", flush=True)
    print(f"  slide list: {base}/slides", flush=True)
    print(f"  viewer: {base}/view/{slides[0]}", flush=True)
    Server().run()
    return 0


def _check(args: argparse.Namespace) -> int:
    from .check import run_checks
    from .settings import Settings

    steps = run_checks(Settings.from_env(), args.slide)
    for step in steps:
        print(step.line(), flush=True)
    return 1 if any(step.outcome == "FAIL" for step in steps) else 0


def _sign(args: argparse.Namespace) -> int:
    import json
    import time
    import urllib.parse

    from .security.tokens import TokenSigner, parse_secrets
    from .settings import Settings

    settings = Settings.from_env()
    if not settings.auth_secret:
        print("WSI_AUTH_SECRET is not set: access control is off, no token is needed",
              file=sys.stderr)
        return 2
    now = int(time.time())
    token = TokenSigner(parse_secrets(settings.auth_secret)).sign(
        args.slide, prefix=args.prefix, expires_in=args.ttl or settings.auth_token_ttl,
        session_end=now + settings.auth_session_max, now=now)
    answer = {"token": token, "expires_at": now + (args.ttl or settings.auth_token_ttl)}
    if args.base_url and not args.prefix:
        answer["viewer"] = (f"{args.base_url.rstrip('/')}/t/{token}/view/"
                            f"{urllib.parse.quote(args.slide)}")
    print(json.dumps(answer, indent=1))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench.suite import run_from_args

    return run_from_args(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wsi-blueprint", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the standalone server on a local folder")
    serve.add_argument("--slides", default=os.environ.get("WSI_SLIDES_DIR", "slides"),
                       help="folder of slides (default ./slides)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=0, help="default: one per core")
    serve.set_defaults(run=_serve)
    check = commands.add_parser("check", help="walk the data path once (settings from WSI_*)")
    check.add_argument("--slide", help="slide id to open (default: the first one listed)")
    check.set_defaults(run=_check)
    sign = commands.add_parser("sign", help="mint an access token (WSI_AUTH_SECRET)")
    sign.add_argument("slide", help="slide id, or an id prefix with --prefix")
    sign.add_argument("--prefix", action="store_true", help="grant every id under the prefix")
    sign.add_argument("--ttl", type=int, default=0, help="seconds (default WSI_AUTH_TOKEN_TTL)")
    sign.add_argument("--base-url", help="also print the viewer URL under this base")
    sign.set_defaults(run=_sign)
    from .bench.suite import add_arguments as add_bench_arguments
    bench = commands.add_parser("bench", help="benchmark on generated or your own slides, "
                                "beside OpenSlide and tiffslide; writes a report")
    add_bench_arguments(bench)
    bench.set_defaults(run=_bench)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
