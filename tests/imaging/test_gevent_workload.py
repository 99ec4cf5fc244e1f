"""The whole imaging layer under gevent, as gunicorn's gevent workers run it.

Pool threads must never import a module for the first time: once gevent has patched
`threading`, Python's import locks are gevent locks, and native threads importing at once
stall or deadlock on them (seen: the first JPEG decodes in the pool took 0.75 s, and two
concurrent regions hung until the pool's 30 s timeout). imagecodecs and Pillow load codecs and
plugins lazily, so the imaging modules load them at import time; this test catches any
import that still happens in a pool thread.
"""

import json
import os
import subprocess
import sys

from helpers import testdata_path as slide_path

PROBE = r"""
from gevent import monkey
monkey.patch_all()
import json, sys, time
import gevent

native_ident = monkey.get_original("_thread", "get_ident")
main_thread = native_ident()
late_imports = []

class ImportSpy:
    def find_spec(self, name, path=None, target=None):
        if native_ident() != main_thread:
            late_imports.append(name)
        return None

sys.path[:0] = sys.argv[1:3]
from imaging.support import real_slide
from wsi_blueprint.imaging import cpu_pool
from wsi_blueprint.imaging.encode import encode
from wsi_blueprint.imaging.passthrough import native_tile_jpeg
from wsi_blueprint.imaging.region import read_region, thumbnail

cpu_pool.configure(timeout=20)
folder = sys.argv[3]
cmu = real_slide(folder + "/CMU-1-Small-Region.svs")
j2k = real_slide(folder + "/TCGA-CR-7395-J2K-33005.svs")
boxes = real_slide(folder + "/boxes.tiff")
sys.meta_path.insert(0, ImportSpy())

def region_as(fmt, slide, *args):
    return len(cpu_pool.run_cpu(encode, read_region(slide, *args), fmt))

start = time.perf_counter()
jobs = [
    gevent.spawn(region_as, "jpeg", cmu, 480, 480, 1024, 1024, 256, 256),   # DCT scaling
    gevent.spawn(region_as, "png", cmu, 100, 100, 500, 500, 300, 300),      # full decode
    gevent.spawn(region_as, "webp", j2k, 1000, 800, 1024, 768, 300, 200),   # JPEG 2000
    gevent.spawn(region_as, "jpeg", boxes, 0, 0, 300, 250, 100, 80),        # deflate
    gevent.spawn(lambda: thumbnail(cmu, 200).shape),
    gevent.spawn(lambda: len(native_tile_jpeg(cmu.read_tiles(0, [(9, 12)])[0]))),
]
gevent.joinall(jobs, timeout=60)
print(json.dumps({
    "results": [repr(j.value) if j.successful() else repr(j.exception) for j in jobs],
    "ok": all(j.successful() for j in jobs),
    "late_imports": late_imports,
    "seconds": time.perf_counter() - start,
}))
"""


def test_concurrent_requests_under_gevent_finish_without_imports_in_pool_threads():
    folder = os.path.dirname(slide_path("TCGA-CR-7395-J2K-33005.svs"))
    slide_path("CMU-1-Small-Region.svs")
    slide_path("boxes.tiff")
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, tests, os.path.dirname(tests), folder],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["ok"], probe["results"]
    assert probe["late_imports"] == []
    assert probe["seconds"] < 15, probe
