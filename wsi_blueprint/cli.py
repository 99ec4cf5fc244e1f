"""`wsi-blueprint`: the command line. `serve` starts the standalone server."""

import argparse
import os
import sys


def _serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from .serving import gunicorn_options

    from .sample import SAMPLE_NAME, write_sample
    from .viewer import assets

    folder = os.path.abspath(args.slides)
    os.makedirs(folder, exist_ok=True)
    if not [f for f in os.listdir(folder) if not f.startswith(".")]:
        write_sample(os.path.join(folder, SAMPLE_NAME))
        print(f"the folder was empty: wrote a synthetic demo slide, {SAMPLE_NAME}", flush=True)
    assets.install()
    os.environ.setdefault("WSI_STORE", "file://" + folder)
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
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
