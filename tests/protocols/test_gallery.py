"""The landing page through a real Flask app: URLs under a mount prefix, names and sizes on
the cards, folders first, and errors as pages with their status."""

import shutil

import pytest
from flask import Flask

from helpers import RangeFileServer, testdata_path
from wsi_blueprint.app import create_app
from wsi_blueprint.blueprint import create_blueprint
from wsi_blueprint.protocols.gallery import human_size

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), tmp_path / "a" / "x.svs")
    (tmp_path / "a" / "notes.md").write_text("# notes")
    return tmp_path


def test_a_gallery_under_a_mount_prefix_links_within_it(folder):
    app = Flask("host")
    app.config["WSI_STORE"] = f"file://{folder}"
    app.register_blueprint(create_blueprint(), url_prefix="/pathology")
    client = app.test_client()
    html = client.get("/pathology/?prefix=a/").data.decode()
    assert 'href="/pathology/view/a/x.svs"' in html
    assert 'src="/pathology/slides/a/x.svs/thumbnail?max_size=256"' in html
    assert 'data-metadata="/pathology/slides/a/x.svs"' in html
    assert 'href="/pathology/?prefix=a/b/"' in html  # the folder
    assert 'href="/pathology/?prefix=a/"' in html and 'action="/pathology/"' in html
    assert '<script src="/pathology/viewer/static/gallery.js">' in html
    viewer = client.get("/pathology/view/a/x.svs").data.decode()
    assert 'class="back" href="/pathology/?prefix=a/"' in viewer


def test_a_prefix_without_its_slash_is_the_folder(folder):
    client = create_app({"WSI_STORE": f"file://{folder}"}).test_client()
    html = client.get("/?prefix=a").data.decode()
    assert 'data-id="a/x.svs"' in html and 'data-id="a/notes.md" data-kind="other"' in html
    # Names below the folder, the folder before the files, sizes in decimal units.
    assert html.index('data-id="a/b/"') < html.index('data-id="a/notes.md"')
    assert '<span class="size">1.9 MB</span>' in html


def test_human_sizes():
    assert [human_size(n) for n in (None, 0, 999, 1000, 2_500_000, 3 * 10**12)] == [
        "", "0 B", "999 B", "1.0 KB", "2.5 MB", "3.0 TB"]


def test_a_store_that_cannot_list_answers_a_page_with_the_reason(folder):
    server = RangeFileServer(str(folder))
    try:
        client = create_app({"WSI_STORE": server.url}).test_client()
        page = client.get("/", headers=BROWSER)
        assert page.status_code == 501 and page.mimetype == "text/html"
        assert "cannot list its slides" in page.data.decode()
        assert client.get("/").json["error"] == "not_supported_by_store"
    finally:
        server.stop()


def test_bad_gallery_arguments_are_400_pages(folder):
    client = create_app({"WSI_STORE": f"file://{folder}"}).test_client()
    page = client.get("/?prefix=../etc/", headers=BROWSER)
    assert page.status_code == 400 and 'data-error="invalid_slide_id"' in page.data.decode()
    assert client.get("/?q=" + "x" * 201, headers=BROWSER).status_code == 400


def test_under_access_control_the_gallery_is_refused_as_a_page(folder):
    client = create_app({"WSI_STORE": f"file://{folder}",
                         "WSI_AUTH_SECRET": "k1:gallery-test-secret-value"}).test_client()
    page = client.get("/", headers=BROWSER)
    assert page.status_code == 401 and "an access token is required" in page.data.decode()
    assert 'href="/"' not in page.data.decode()  # no way back to a listing it may not see
