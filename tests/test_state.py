"""A blueprint's state: two blueprints mounted in one app keep their own CPU pools."""

from flask import Flask

from helpers import make_settings, testdata_path
from wsi_blueprint.blueprint import create_blueprint
from wsi_blueprint.protocols.context import EXTENSION


def test_two_blueprints_in_one_app_keep_their_own_cpu_pools(tmp_path):
    (tmp_path / "he.svs").write_bytes(open(testdata_path("CMU-1-Small-Region.svs"), "rb").read())
    app = Flask("host")
    for name, threads in (("a", "1"), ("b", "3")):
        app.register_blueprint(create_blueprint(name, settings=make_settings(
            store=f"file://{tmp_path}", cpu_threads=threads, prefetch="off")),
            url_prefix=f"/{name}")
    a, b = (app.extensions[EXTENSION][name] for name in ("a", "b"))
    assert (a.readers.pool.threads, b.readers.pool.threads) == (1, 3)
    jobs = {"a": 0, "b": 0}
    for name, state in (("a", a), ("b", b)):
        real_map = state.readers.pool.map

        def counted(fn, items, timeout=None, name=name, real_map=real_map):
            items = list(items)
            jobs[name] += len(items)
            return real_map(fn, items, timeout)

        state.readers.pool.map = counted
    client = app.test_client()
    # Registering b did not reconfigure a: a's resampled tile renders in a's pool.
    assert client.get("/a/dzi/he.svs_files/11/1_1.jpeg").status_code == 200
    assert jobs == {"a": 1, "b": 0}
    assert client.get("/b/dzi/he.svs_files/11/2_1.jpeg").status_code == 200
    assert jobs == {"a": 1, "b": 1}
