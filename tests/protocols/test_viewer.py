"""The viewer page through a real Flask app: what its panel offers, who may frame it, and its
errors as pages for browsers and JSON for API clients."""

import shutil

import pytest

from helpers import testdata_path
from wsi_blueprint.app import create_app

SLIDE = "cases/1/CMU-1-Small-Region.svs"
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "cases" / "1").mkdir(parents=True)
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), tmp_path / SLIDE)
    shutil.copy(testdata_path("not-a-tiff.svs"), tmp_path / "not-a-tiff.svs")
    return tmp_path


def client(folder, **config):
    return create_app({"WSI_STORE": f"file://{folder}", **config}).test_client()


@pytest.mark.parametrize("show, names", [("off", ["thumbnail"]),
                                         ("on", ["label", "macro", "thumbnail"])])
def test_label_and_macro_only_when_configured(folder, show, names):
    html = client(folder, WSI_SHOW_LABEL_AND_MACRO=show).get(f"/view/{SLIDE}").data.decode()
    shown = [name for name in ("label", "macro", "thumbnail")
             if f'<figure data-name="{name}">' in html]
    assert shown == names
    for name in names:
        assert f'src="/slides/{SLIDE}/associated/{name}"' in html


@pytest.mark.parametrize("setting, expected", [
    (None, "frame-ancestors 'self'"),
    ("'self'  https://lims.example.org", "frame-ancestors 'self' https://lims.example.org"),
    ("'none'", "frame-ancestors 'none'"),
])
def test_frame_ancestors_follow_the_setting(folder, setting, expected):
    config = {"WSI_FRAME_ANCESTORS": setting} if setting else {}
    app = client(folder, **config)
    for path in (f"/view/{SLIDE}", "/", "/view/missing.svs"):
        policy = app.get(path, headers=BROWSER).headers["Content-Security-Policy"]
        assert policy.endswith(expected), (path, policy)


@pytest.mark.parametrize("path, status, code", [
    ("/view/missing.svs", 404, "slide_not_found"),
    ("/view/not-a-tiff.svs", 415, "unsupported_format"),
    ("/view/a/../b.svs", 400, "invalid_slide_id"),
])
def test_errors_are_pages_for_browsers_and_json_for_clients(folder, path, status, code):
    app = client(folder)
    page = app.get(path, headers=BROWSER)
    assert page.status_code == status and page.mimetype == "text/html"
    assert f'data-error="{code}"' in page.data.decode()
    for accept in ("application/json", "*/*", None):
        answer = app.get(path, headers={"Accept": accept} if accept else {})
        assert (answer.status_code, answer.json["error"]) == (status, code), accept
