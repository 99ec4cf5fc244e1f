"""Peers for the benchmark: the usual ways to serve the same slides as DZI, side by side.

- `openslide`: OpenSlide's DeepZoomGenerator behind a minimal Flask app reading the local
  file, the classic deployment (openslide-python's deepzoom_server example, under gunicorn).
- `tiffslide`: tiffslide reading the same object from the simulated S3 over HTTP through
  fsspec, with fsspec's defaults (5 MiB blocks, read-ahead cache) or tuned settings given as
  JSON storage options (256 KiB blocks in a block cache, say).

Both serve the URL layout of this package (`/dzi/<id>.dzi`, `/dzi/<id>_files/<level>/<col>_
<row>.jpeg`, `/healthz`) with the same tile size and overlap and JPEG quality, so one trace
replays against all. Each worker keeps its open slides; OpenSlide is thread-safe, a tiffslide
slide is used under a lock (its fsspec file has one position).

    gunicorn -k gthread --threads 8 "wsi_blueprint.bench.peers:create_app()"
    environment: WSI_BENCH_PEER=openslide|tiffslide, WSI_BENCH_PEER_SOURCE=<folder or base
    URL>, WSI_BENCH_PEER_FSSPEC=<JSON storage options>, WSI_BENCH_PEER_TILE_SIZE,
    WSI_BENCH_PEER_OVERLAP, WSI_BENCH_PEER_QUALITY
"""

import io
import json
import os
import threading

TUNED_FSSPEC = {"block_size": 256 * 1024, "cache_type": "blockcache",
                "cache_options": {"maxblocks": 512}}


class _RGBA:
    """A TiffSlide as DeepZoomGenerator expects an OpenSlide: RGBA regions."""

    def __init__(self, slide):
        self._slide = slide

    def __getattr__(self, name):
        return getattr(self._slide, name)

    def read_region(self, location, level, size):
        return self._slide.read_region(location, level, size).convert("RGBA")


def create_app():
    from flask import Flask, Response, abort
    from openslide.deepzoom import DeepZoomGenerator

    kind = os.environ.get("WSI_BENCH_PEER", "openslide")
    source = os.environ["WSI_BENCH_PEER_SOURCE"]
    storage_options = json.loads(os.environ.get("WSI_BENCH_PEER_FSSPEC") or "{}")
    tile_size = int(os.environ.get("WSI_BENCH_PEER_TILE_SIZE", 240))
    overlap = int(os.environ.get("WSI_BENCH_PEER_OVERLAP", 0))
    quality = int(os.environ.get("WSI_BENCH_PEER_QUALITY", 80))
    app = Flask("wsi_bench_peer")
    opened: dict = {}
    lock = threading.Lock()

    def open_slide(slide_id: str):
        if ".." in slide_id.split("/"):
            abort(400)
        with lock:
            entry = opened.get(slide_id)
            if entry is None:
                if kind == "openslide":
                    import openslide

                    path = os.path.join(source, slide_id)
                    if not os.path.isfile(path):
                        abort(404)
                    slide, slide_lock = openslide.OpenSlide(path), None
                else:
                    import tiffslide

                    url = source.rstrip("/") + "/" + slide_id
                    slide = _RGBA(tiffslide.TiffSlide(url, storage_options=storage_options))
                    slide_lock = threading.Lock()
                entry = opened[slide_id] = (
                    DeepZoomGenerator(slide, tile_size=tile_size, overlap=overlap,
                                      limit_bounds=False), slide_lock)
            return entry

    @app.route("/healthz")
    def healthz():
        return {"status": "ok", "peer": kind}

    @app.route("/dzi/<path:slide_id>.dzi")
    def descriptor(slide_id):
        dz, _ = open_slide(slide_id)
        return Response(dz.get_dzi("jpeg"), mimetype="application/xml")

    @app.route("/dzi/<path:slide_id>_files/<int:level>/<int:col>_<int:row>.<fmt>")
    def tile(slide_id, level, col, row, fmt):
        dz, slide_lock = open_slide(slide_id)
        if fmt not in ("jpeg", "jpg"):
            abort(404)
        try:
            if slide_lock is None:
                image = dz.get_tile(level, (col, row))
            else:
                with slide_lock:
                    image = dz.get_tile(level, (col, row))
        except ValueError:
            abort(404)
        buffer = io.BytesIO()
        image.save(buffer, "jpeg", quality=quality)
        response = Response(buffer.getvalue(), mimetype="image/jpeg")
        response.cache_control.public = True
        response.cache_control.max_age = 86400
        return response

    return app


def peer_server(kind: str, source: str, *, workers: int = 2, threads: int = 8,
                storage_options: dict | None = None, tile_size: int = 240, overlap: int = 0,
                quality: int = 80):
    """A GunicornServer (not started) running a peer app with gthread workers."""
    from .live_server import GunicornServer

    env = {k: v for k, v in os.environ.items() if not k.startswith("WSI_")}
    package_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    env.update(WSI_BENCH_PEER=kind, WSI_BENCH_PEER_SOURCE=source,
               WSI_BENCH_PEER_FSSPEC=json.dumps(storage_options or {}),
               WSI_BENCH_PEER_TILE_SIZE=str(tile_size), WSI_BENCH_PEER_OVERLAP=str(overlap),
               WSI_BENCH_PEER_QUALITY=str(quality), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [package_root,
                                                        os.environ.get("PYTHONPATH")])))

    def args(port: int) -> list[str]:
        return ["--no-control-socket", "-b", f"127.0.0.1:{port}", "-w", str(workers),
                "-k", "gthread", "--threads", str(threads), "--timeout", "120",
                "--log-level", "warning", "wsi_blueprint.bench.peers:create_app()"]

    return GunicornServer(args=args, env=env, name=f"peer-{kind}")


def available(kind: str) -> str | None:
    """None if the peer can run here, else why not."""
    try:
        import openslide  # noqa: F401
        import openslide.deepzoom  # noqa: F401
    except Exception as exc:  # openslide-bin missing, or its library
        return f"openslide-python is not usable: {exc}"
    if kind == "tiffslide":
        try:
            import aiohttp  # noqa: F401
            import fsspec  # noqa: F401
            import tiffslide  # noqa: F401
        except ImportError as exc:
            return f"{exc.name} is not installed (pip install tiffslide fsspec aiohttp)"
    return None
