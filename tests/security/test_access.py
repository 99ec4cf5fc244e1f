"""Access control through real Flask apps: every refusal is quick, JSON, and costs no store
request."""

import shutil
import time

import pytest
from flask import Flask, abort, session

from helpers import make_settings, testdata_path
from wsi_blueprint.app import create_app
from wsi_blueprint.blueprint import create_blueprint
from wsi_blueprint.protocols.context import EXTENSION
from wsi_blueprint.security.tokens import TokenSigner, parse_secrets

SECRET = "k2:secret-number-two,k1:secret-number-one"
CMU = "cases/1/cmu.svs"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    (folder / "cases" / "1").mkdir(parents=True)
    (folder / "cases" / "2").mkdir(parents=True)
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), folder / CMU)
    shutil.copy(testdata_path("small.svs"), folder / "cases" / "2" / "other.svs")
    return folder


@pytest.fixture
def app(folder):
    return create_app({"WSI_STORE": f"file://{folder}", "WSI_AUTH_SECRET": SECRET,
                       "WSI_SIGN_KEY": "admin-key", "WSI_AUTH_TOKEN_TTL": "600"})


@pytest.fixture
def client(app):
    return app.test_client()


def store_requests(app) -> float:
    return app.extensions[EXTENSION]["wsi"].counters.get("store_requests")


def sign(client, **body):
    response = client.post("/sign", json=body, headers={"Authorization": "Bearer admin-key"})
    assert response.status_code == 200, response.json
    return response.json


def token_for(subject, *, prefix=False, secret="k1:secret-number-one", expires_in=600):
    return TokenSigner(parse_secrets(secret)).sign(subject, prefix=prefix, expires_in=expires_in)


def test_every_route_but_health_needs_a_token(client, app):
    for path in ("/slides", f"/slides/{CMU}", f"/slides/{CMU}/thumbnail", f"/dzi/{CMU}.dzi",
                 f"/dzi/{CMU}_files/12/0_0.jpeg", f"/iiif/3/{CMU}/info.json",
                 f"/iiif/3/{CMU}/full/max/0/default.jpg", f"/iiif/3/{CMU}/manifest.json",
                 f"/tiles/{CMU}/0/0/0.jpg", f"/view/{CMU}"):
        response = client.get(path)
        assert (response.status_code, response.json["error"]) == (401, "unauthorized"), path
    assert client.get("/healthz").status_code == 200
    assert store_requests(app) == 0


def test_tokens_travel_in_path_query_and_header(client):
    token = sign(client, slide_id=CMU)["token"]
    assert client.get(f"/t/{token}/slides/{CMU}").status_code == 200
    assert client.get(f"/slides/{CMU}?token={token}").status_code == 200
    assert client.get(f"/slides/{CMU}",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_urls_handed_out_carry_a_url_token(client):
    answer = sign(client, slide_id=CMU)
    token = answer["token"]
    info = client.get(answer["urls"]["iiif"] + "/info.json").json
    assert info["id"] == f"http://localhost/t/{token}/iiif/3/{CMU}"
    assert client.get(info["id"] + "/0,0,240,240/240,240/0/default.jpg").status_code == 200
    manifest = client.get(answer["urls"]["manifest"]).json
    body = manifest["items"][0]["items"][0]["items"][0]["body"]
    assert token in body["service"][0]["id"] and client.get(body["id"]).status_code == 200
    page = client.get(answer["urls"]["viewer"]).get_data(as_text=True)
    assert f'data-tile-source="/t/{token}/dzi/{CMU}.dzi"' in page
    # A Bearer token is the client's own business: it is not copied into URLs.
    meta = client.get(f"/slides/{CMU}", headers={"Authorization": f"Bearer {token}"}).json
    assert token not in meta["urls"]["dzi"]


@pytest.mark.parametrize("kind,status", [
    ("expired", 401), ("tampered", 403), ("wrong slide", 403), ("wrong key", 403),
    ("other case prefix", 403), ("garbage", 403)])
def test_bad_tokens_are_refused_without_touching_the_store(client, app, kind, status):
    good = token_for(CMU)
    token = {
        "expired": token_for(CMU, expires_in=-1),
        "tampered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "wrong slide": token_for("cases/2/other.svs"),
        "wrong key": token_for(CMU, secret="k1:not-the-secret"),
        "other case prefix": token_for("cases/2/", prefix=True),
        "garbage": "not-a-token",
    }[kind]
    began = time.monotonic()
    for path in (f"/t/{token}/slides/{CMU}", f"/t/{token}/dzi/{CMU}_files/12/0_0.jpeg",
                 f"/iiif/3/{CMU}/info.json?token={token}"):
        response = client.get(path)
        assert response.status_code == status, (kind, path)
        assert "secret" not in response.get_data(as_text=True)
    assert time.monotonic() - began < 1 and store_requests(app) == 0


def test_a_prefix_token_covers_its_case_and_its_listing(client):
    token = sign(client, prefix="cases/1/")["token"]
    assert client.get(f"/t/{token}/slides/{CMU}").status_code == 200
    assert client.get(f"/t/{token}/slides/cases/2/other.svs").status_code == 403
    listing = client.get(f"/t/{token}/slides?prefix=cases/1/")
    assert [s["id"] for s in listing.json["slides"]] == [CMU]
    assert client.get(f"/t/{token}/slides?prefix=cases/2/").status_code == 403
    assert client.get(f"/t/{token}/slides?prefix=cases/").status_code == 403
    slide_token = sign(client, slide_id=CMU)["token"]
    assert client.get(f"/t/{slide_token}/slides?prefix=cases/1/").status_code == 403


@pytest.mark.parametrize("path", [
    "/slides/..%2F..%2Fetc%2Fpasswd", "/slides/cases/1/%2e%2e/2/other.svs",
    "/slides/cases/1/..%2f2%2fother.svs", "/slides/cases%5C1%5Ccmu.svs", "/slides/a%00b",
    "/dzi/..%2Fx.dzi", "/iiif/3/%2e%2e%2Fcases/info.json"])
def test_traversal_ids_are_refused_before_any_store_access(client, app, path):
    token = token_for("", prefix=True)  # even a token for everything
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (400, 403, 404) and response.is_json
    assert store_requests(app) == 0


def test_huge_numbers_and_oversized_output_are_refused_before_decoding(client, app):
    headers = {"Authorization": f"Bearer {token_for(CMU)}"}
    client.get(f"/slides/{CMU}", headers=headers)  # opened: what follows needs no store
    before = store_requests(app)
    for path, status in [
            (f"/tiles/{CMU}/0/{10 ** 30}/0.jpg", 404),
            (f"/tiles/{CMU}/{10 ** 30}/0/0.jpg", 404),
            (f"/dzi/{CMU}_files/{10 ** 30}/0_0.jpeg", 404),
            (f"/dzi/{CMU}_files/12/{10 ** 30}_0.jpeg", 404),
            (f"/iiif/3/{CMU}/{10 ** 30},0,10,10/max/0/default.jpg", 400),
            (f"/iiif/3/{CMU}/full/^100000,100000/0/default.jpg", 413),
            (f"/iiif/3/{CMU}/full/^pct:100000/0/default.jpg", 413),
            (f"/slides/{CMU}/thumbnail?max_size={10 ** 30}", 400)]:
        response = client.get(path, headers=headers)
        assert response.status_code == status, path
    assert store_requests(app) == before


def test_a_prefix_token_lists_its_prefix_without_asking(client):
    answer = sign(client, prefix="cases/1/")
    token = answer["token"]
    for url in (f"/t/{token}/slides", f"/slides?token={token}", f"/slides?token={token}&prefix=",
                answer["urls"]["slides"]):
        listing = client.get(url)
        assert listing.status_code == 200, (url, listing.json)
        assert [s["id"] for s in listing.json["slides"]] == [CMU]
    assert client.get("/slides", headers={"Authorization": f"Bearer {token}"}).json[
        "slides"] == listing.json["slides"]
    assert answer["urls"]["slides"] == f"http://localhost/t/{token}/slides"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "admin-key"},
                                     {"Authorization": "Bearer admin-key2"}])
def test_sign_needs_the_admin_key_before_its_body_is_read(client, headers):
    for body in ({"slide_id": CMU}, {"prefix": "cases/"}, {}, {"slide_id": "../x"}, [],
                 "not json"):
        kwargs = {"data": body} if isinstance(body, str) else {"json": body}
        response = client.post("/sign", headers=headers, **kwargs)
        assert response.status_code == 401, (headers, body)
        assert response.json["error"] == "unauthorized"
        assert response.json["message"].startswith("admin key required")


def test_sign_refuses_everyone_when_no_admin_key_is_set(folder):
    client = create_app({"WSI_STORE": f"file://{folder}", "WSI_AUTH_SECRET": SECRET}).test_client()
    response = client.post("/sign", json={"slide_id": CMU}, headers={"Authorization": "Bearer "})
    assert response.status_code == 401 and "WSI_SIGN_KEY is not set" in response.json["message"]


def test_sign_validates_the_body_once_the_key_is_right(client):
    for body in ({}, {"slide_id": ""}, {"slide_id": "../x"},
                 {"slide_id": CMU, "expires_in": 10 ** 9}, []):
        response = client.post("/sign", json=body, headers={"Authorization": "Bearer admin-key"})
        assert response.status_code == 400, body


def test_renewal_keeps_scope_and_never_outlives_the_session(folder):
    app = create_app({"WSI_STORE": f"file://{folder}", "WSI_AUTH_SECRET": SECRET,
                      "WSI_SIGN_KEY": "admin-key", "WSI_AUTH_TOKEN_TTL": "5",
                      "WSI_AUTH_SESSION_MAX": "7"})
    client = app.test_client()
    first = sign(client, slide_id=CMU)
    session_end = first["expires_at"] + 2
    time.sleep(1.1)
    renewed = client.post(f"/t/{first['token']}/renew").json
    assert first["expires_at"] < renewed["expires_at"] <= session_end
    assert client.get(f"/t/{renewed['token']}/slides/{CMU}").status_code == 200
    assert client.get(f"/t/{renewed['token']}/slides/cases/2/other.svs").status_code == 403
    assert client.post("/renew").status_code == 401


def test_a_host_app_guards_sign_with_its_own_login(folder):
    host = Flask("hospital")
    host.secret_key = "host-session-secret"

    @host.post("/login/<user>")
    def login(user):
        session["user"] = user
        return "ok"

    def authorize(request, slide_id):
        if "user" not in session:
            abort(401)
        return session["user"] == "pathologist" and slide_id.startswith("cases/1/")

    host.register_blueprint(create_blueprint(
        settings=make_settings(store=f"file://{folder}", auth_secret=SECRET),
        authorize=authorize), url_prefix="/wsi")
    client = host.test_client()
    assert client.post("/wsi/sign", json={"slide_id": CMU}).status_code == 401
    client.post("/login/visitor")
    assert client.post("/wsi/sign", json={"slide_id": CMU}).status_code == 403
    client.post("/login/pathologist")
    answer = client.post("/wsi/sign", json={"slide_id": CMU}).json
    assert answer["urls"]["viewer"].startswith(f"http://localhost/wsi/t/{answer['token']}/view/")
    assert client.get(answer["urls"]["dzi"]).status_code == 200
    assert client.post("/wsi/sign", json={"slide_id": "cases/2/other.svs"}).status_code == 403


def test_security_headers_and_cors_without_credentials(client):
    response = client.get("/healthz", headers={"Origin": "https://lims.example"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    page = client.get(f"/t/{token_for(CMU)}/view/{CMU}")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
