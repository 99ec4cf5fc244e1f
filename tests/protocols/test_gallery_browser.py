"""The landing page in real headless Chromium against the real standalone server (gunicorn,
gevent workers): folders, thumbnails, format and MPP per card, the filter, paging, and files
that are not slides marked as such; on a local folder and on an S3 bucket (moto server)."""

import shutil

import pytest

from browser import Console, new_page
from helpers import testdata_path
from live_server import LiveServer
from wsi_blueprint.protocols.gallery import PAGE_SIZE

SLIDE = "cases/7/CMU-1-Small-Region.svs"
MANY = PAGE_SIZE + 5


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gallery")
    (folder / "cases" / "7").mkdir(parents=True)
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), folder / SLIDE)
    shutil.copy(testdata_path("not-a-tiff.svs"), folder / "not-a-tiff.svs")
    (folder / "readme.txt").write_text("scanned 2024\n")
    (folder / "many").mkdir()
    for i in range(MANY):
        (folder / "many" / f"notes-{i:03d}.txt").write_text(str(i))
    return folder


@pytest.fixture(scope="module")
def server(folder):
    with LiveServer(folder) as live:
        yield live


@pytest.fixture
def page(browser):
    page = new_page(browser)
    console = Console(page)
    yield page
    # A file named like a slide that is not one answers 415 to its card's requests, which
    # Chromium logs; anything else is a fault of the page.
    errors = [e for e in console.errors() if "status of 415" not in e]
    assert errors == [] and console.csp_violations() == []
    page.context.close()


def cards(page) -> dict:
    return {card.get_attribute("data-id"): card for card in page.locator(".card").all()}


def test_gallery_shows_folders_and_marks_what_is_not_a_slide(page, server):
    response = page.goto(server.url)
    assert response.status == 200 and "frame-ancestors 'self'" in response.headers[
        "content-security-policy"]
    found = cards(page)
    assert set(found) == {"cases/", "many/", "not-a-tiff.svs", "readme.txt"}
    assert found["readme.txt"].get_attribute("data-kind") == "other"
    assert found["readme.txt"].locator("a").count() == 0  # not offered as viewable
    # Named like a slide, known not to be one only once opened: its card loses its links.
    bad = found["not-a-tiff.svs"]
    page.wait_for_function("() => document.querySelector('[data-id=\"not-a-tiff.svs\"]')"
                           ".dataset.state === 'failed'")
    assert bad.locator("a").count() == 0 and "unsupported" in bad.get_attribute("class")
    assert "is not in a supported format" in bad.locator(".problem").inner_text()


def test_folders_lead_to_slides_with_thumbnail_format_and_mpp(page, server):
    page.goto(server.url)
    page.locator(".card.folder a", has_text="cases").click()
    page.locator(".card.folder a", has_text="7").click()
    assert page.locator(".crumbs a").all_inner_texts() == ["Slides", "cases", "7"]
    card = page.locator(f'.card[data-id="{SLIDE}"]')
    page.wait_for_function(f"() => document.querySelector('[data-id=\"{SLIDE}\"]')"
                           ".dataset.state === 'described'")
    assert card.locator(".format").inner_text() == "aperio"
    assert card.locator(".mpp").inner_text() == "0.499 \u00b5m/px"
    assert card.locator(".size").inner_text() == "1.9 MB"
    image = card.locator("img")
    assert image.get_attribute("loading") == "lazy"
    page.wait_for_function("() => document.querySelector('.card img').naturalWidth > 0")
    card.locator("a.name").click()
    page.wait_for_url(f"**/view/{SLIDE}")
    page.locator("#viewer").wait_for()
    assert page.locator("header .name").inner_text() == "CMU-1-Small-Region.svs"


def test_filter_searches_names_below_the_folder(page, server):
    page.goto(server.url)
    page.fill("input[name=q]", "SMALL-region")
    page.locator("form.filter button").click()
    page.wait_for_url("**q=SMALL-region*")
    assert list(cards(page)) == [SLIDE]
    assert page.locator(".card .name").inner_text() == SLIDE
    page.fill("input[name=q]", "no-such-name")
    page.locator("form.filter button").click()
    page.wait_for_url("**q=no-such-name*")
    assert cards(page) == {} and "No names match" in page.locator(".empty").inner_text()


def test_pages_follow_the_listing_cursor(page, server):
    page.goto(server.url + "?prefix=many/")
    first = list(cards(page))
    assert len(first) == PAGE_SIZE and page.locator(".pager .first").count() == 0
    page.locator(".pager .next").click()
    page.wait_for_url("**cursor=**")
    second = list(cards(page))
    assert len(second) == MANY - PAGE_SIZE and page.locator(".pager .next").count() == 0
    assert sorted(first + second) == [f"many/notes-{i:03d}.txt" for i in range(MANY)]
    page.locator(".pager .first").click()
    page.wait_for_url(lambda url: "cursor" not in url)
    assert list(cards(page)) == first


def test_gallery_lists_an_s3_bucket(browser, s3_server, s3_bucket):
    with open(testdata_path("CMU-1-Small-Region.svs"), "rb") as f:
        s3_server.put(s3_bucket, "lab/" + SLIDE, f.read())
    s3_server.put(s3_bucket, "lab/cases/7/report.pdf", b"%PDF-1.4")
    env = {"WSI_STORE": f"s3://{s3_bucket}/lab", "WSI_S3_ENDPOINT_URL": s3_server.endpoint}
    page = new_page(browser)
    with LiveServer(env=env) as live:
        try:
            page.goto(live.url)
            assert list(cards(page)) == ["cases/"]
            page.locator(".card.folder a").click()
            page.locator(".card.folder a").click()
            found = cards(page)
            assert list(found) == [SLIDE, "cases/7/report.pdf"]
            assert found["cases/7/report.pdf"].get_attribute("data-kind") == "other"
            page.wait_for_function(f"() => document.querySelector('[data-id=\"{SLIDE}\"]')"
                                   ".dataset.state === 'described'")
            assert found[SLIDE].locator(".format").inner_text() == "aperio"
        finally:
            page.context.close()

