"""Every route against mangled URLs: seeded mutants of real requests (characters inserted or
dropped, a path segment replaced, queries and headers added), with access control off and on,
get an answer or a JSON error with its status, never a server error. The mutations mostly
spare the slide id, so that most mutants reach the protocols' parsers rather than stopping at
"no such slide"."""

import random
import shutil

import pytest

from helpers import testdata_path
from wsi_blueprint.app import create_app
from wsi_blueprint.security.tokens import TokenSigner, parse_secrets

SLIDES = {"cases/7/he.svs": "CMU-1-Small-Region.svs", "fluo.ndpi": "DAPI-fluorescence.ndpi",
          "boxes.tiff": "boxes.tiff"}
REQUESTS = [
    "/", "/slides", "/slides?limit=3&prefix=cases/", "/openapi.json", "/healthz", "/readyz",
    "/dzi/cases/7/he.svs.dzi", "/dzi/cases/7/he.svs_files/12/3_2.jpeg",
    "/dzi/cases/7/he.svs_files/8/0_0.png", "/dzi/fluo.ndpi_files/10/0_0.jpeg",
    "/iiif/3/cases/7/he.svs/info.json", "/iiif/3/cases/7/he.svs/manifest.json",
    "/iiif/3/cases/7/he.svs/0,0,512,512/256,/0/default.jpg",
    "/iiif/3/cases/7/he.svs/square/^pct:50/!0/bitonal.webp",
    "/iiif/3/boxes.tiff/full/max/0/default.png", "/iiif/2/cases/7/he.svs/info.json",
    "/iiif/2/cases/7/he.svs/pct:10,10,20,20/!200,200/90/gray.jpg",
    "/slides/cases/7/he.svs", "/slides/fluo.ndpi", "/view/cases/7/he.svs",
]
PIECES = list("/.,:!^%0123456789-_abcxyz?&=~+ ") + [
    "%2F", "%00", "..", "%2e%2e", "\u00e9", "%ff", "999999999", "-1", "1e9", "nan", "inf"]
QUERIES = ["?w=5", "?token=x", "?format=png", "?quality=200", "?size=-3", "?a=%zz"]
HEADERS = [{}, {}, {}, {"Range": "bytes=5-1"}, {"If-None-Match": 'W/"x"'},
           {"Origin": "https://elsewhere.example"}]


SECRET = "k1:" + "s" * 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    for slide_id, name in SLIDES.items():
        (folder / slide_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(testdata_path(name), folder / slide_id)
    return folder


def mutant(rng: random.Random, prefix: str = "") -> str:
    url = prefix + rng.choice(REQUESTS)
    kept = ""
    for slide_id in SLIDES:
        if slide_id in url and rng.random() < 0.8:
            end = url.index(slide_id) + len(slide_id)
            kept, url = url[:end], url[end:]
            break
    for _ in range(rng.randint(1, 4)):
        at, roll = rng.randrange(len(url) + 1), rng.random()
        if roll < 0.4:
            url = url[:at] + rng.choice(PIECES) + url[at:]
        elif roll < 0.7:
            url = url[:at] + url[at + 1:]
        elif roll < 0.85:
            parts = url.split("/")
            parts[rng.randrange(len(parts))] = rng.choice(PIECES) * rng.randint(1, 3)
            url = "/".join(parts)
        else:
            url += rng.choice(QUERIES)
    url = kept + url
    # A path starting "//" is a network location to the test client, not a path.
    return "/" + url.lstrip("/")


@pytest.mark.parametrize("seed,access_control", [(1, False), (2, False), (3, True)])
def test_mangled_urls_get_an_answer_or_a_json_error(folder, seed, access_control):
    """With access control on, every request carries a token granting every slide in its
    path, mangled with the rest now and then."""
    config, prefix = {"WSI_STORE": f"file://{folder}"}, ""
    if access_control:
        config["WSI_AUTH_SECRET"] = SECRET
        prefix = "/t/" + TokenSigner(parse_secrets(SECRET)).sign("", prefix=True,
                                                                 expires_in=600)
    client = create_app(config).test_client()
    rng = random.Random(seed)
    statuses = set()
    for _ in range(1500):
        url = mutant(rng, prefix)
        method = rng.choice(["GET"] * 6 + ["HEAD", "POST", "OPTIONS"])
        response = client.open(url, method=method, headers=rng.choice(HEADERS))
        statuses.add(response.status_code)
        assert response.status_code < 500, (method, url, response.get_data()[:300])
        if response.status_code >= 400 and method != "HEAD":
            body = response.get_json(silent=True)
            assert body and body["status"] == response.status_code and body["error"], \
                (method, url, response.get_data()[:300])
    # The mutants reached answers and the parsers' errors, not only "no such slide".
    assert {200, 400, 404} <= statuses
