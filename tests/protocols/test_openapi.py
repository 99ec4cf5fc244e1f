"""GET /openapi.json: a valid OpenAPI 3.1 document whose routes are the blueprint's own, whose
server entry follows the mount point, and whose schemas the real server's answers match."""

import re
import shutil

import jsonschema
import pytest
import requests
from flask import Flask
from openapi_spec_validator import validate

from helpers import make_settings, testdata_path
from live_server import LiveServer
from wsi_blueprint.app import create_app
from wsi_blueprint.blueprint import create_blueprint

SLIDE = "cases/1/cmu.svs"
SECRET = "k1:0123456789abcdef0123456789"
SIGN_KEY = "admin-0123456789abcdef"
_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    (folder / "cases" / "1").mkdir(parents=True)
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), folder / SLIDE)
    return folder


@pytest.fixture(scope="module")
def app(folder):
    return create_app({"WSI_STORE": f"file://{folder}", "WSI_PREFETCH": "off"})


@pytest.fixture(scope="module")
def spec(app):
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.json


def test_the_document_is_valid_openapi(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["servers"] == [{"url": "http://localhost/"}]


def blueprint_operations(app, blueprint: str = "wsi") -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every URL rule the blueprint has, its token form aside."""
    operations = set()
    rules = {r.rule for r in app.url_map.iter_rules()}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(blueprint + ".") or rule.endpoint.endswith(".static"):
            continue
        if rule.rule.startswith("/t/<token>/"):
            assert rule.rule.removeprefix("/t/<token>") in rules
            continue
        path = _VARIABLE.sub(r"{\1}", rule.rule)
        operations |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return operations


def test_documented_routes_are_the_blueprints_routes(app, spec):
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert documented == blueprint_operations(app)


def test_every_path_parameter_is_declared(spec):
    for path, item in spec["paths"].items():
        for operation in item.values():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"} \
                if "parameters" in operation else set()
            assert declared == set(re.findall(r"\{(\w+)\}", path)), path


def test_the_server_entry_follows_the_mount_point_and_proxy(folder):
    host = Flask("host")
    host.register_blueprint(create_blueprint(settings=make_settings(
        store=f"file://{folder}", prefetch="off")), url_prefix="/pathology")
    client = host.test_client()
    spec = client.get("/pathology/openapi.json").json
    assert spec["servers"] == [{"url": "http://localhost/pathology/"}]
    server = spec["servers"][0]["url"].removeprefix("http://localhost")
    assert client.get(server + "healthz").status_code == 200
    assert client.get(server + "slides/" + SLIDE).json["id"] == SLIDE
    proxied = create_app({"WSI_STORE": f"file://{folder}", "WSI_PROXY_FIX": "1"}).test_client()
    spec = proxied.get("/openapi.json", headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "slides.example",
        "X-Forwarded-Prefix": "/wsi"}).json
    assert spec["servers"] == [{"url": "https://slides.example/wsi/"}]


def test_the_description_is_public_when_access_control_is_on(folder):
    client = create_app({"WSI_STORE": f"file://{folder}", "WSI_AUTH_SECRET": SECRET}
                        ).test_client()
    assert client.get("/slides").status_code == 401
    spec = client.get("/openapi.json").json
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert spec["paths"]["/sign"]["post"]["security"] == [{"adminKey": []}]


def check_answer(spec: dict, response: requests.Response, path: str, method: str = "get"):
    """The response's status is documented for the operation, and its body matches the
    documented schema for its content type."""
    operation = spec["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, (path, response.status_code, response.text[:200])
    if "$ref" in documented:
        documented = spec["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    if "content" not in documented:  # a redirect: its documented headers are there
        assert documented["headers"] and set(documented["headers"]) <= set(response.headers)
        return
    media = response.headers["Content-Type"].split(";")[0].strip()
    assert media in documented["content"], (path, media)
    schema = documented["content"][media]["schema"]
    if media.endswith("json"):
        jsonschema.Draft202012Validator(
            {**schema, "components": spec["components"]},
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        ).validate(response.json())


def test_real_answers_match_the_documented_schemas(folder):
    env = {"WSI_AUTH_SECRET": SECRET, "WSI_SIGN_KEY": SIGN_KEY, "WSI_PREFETCH": "off"}
    with LiveServer(folder, workers=1, env=env) as live:
        session = requests.Session()
        spec = session.get(live.url + "openapi.json", timeout=10).json()
        assert spec["servers"] == [{"url": live.url}]
        admin = {"Authorization": f"Bearer {SIGN_KEY}"}
        answers = [
            ("/sign", "post", session.post(live.url + "sign", json={"slide_id": SLIDE},
                                           headers=admin, timeout=10)),
            ("/sign", "post", session.post(live.url + "sign", json={"prefix": "cases/1/"},
                                           headers=admin, timeout=10)),
            ("/sign", "post", session.post(live.url + "sign", json={"slide_id": SLIDE},
                                           timeout=10)),
            ("/sign", "post", session.post(live.url + "sign", json={"slide_id": "../x"},
                                           headers=admin, timeout=10)),
        ]
        token = answers[0][2].json()["token"]
        prefix_token = answers[1][2].json()["token"]
        session.headers["Authorization"] = f"Bearer {token}"
        s = live.url
        for path, url in [
                ("/slides/{slide_id}", f"slides/{SLIDE}"),
                ("/slides/{slide_id}", "slides/cases/1/none.svs"),
                ("/slides/{slide_id}/thumbnail", f"slides/{SLIDE}/thumbnail?format=png"),
                ("/dzi/{slide_id}.dzi", f"dzi/{SLIDE}.dzi"),
                ("/dzi/{slide_id}_files/{level}/{col}_{row}.{fmt}",
                 f"dzi/{SLIDE}_files/12/0_0.webp"),
                ("/tiles/{slide_id}/{level}/{col}/{row}.jpg", f"tiles/{SLIDE}/0/0/0.jpg"),
                ("/tiles/{slide_id}/{level}/{col}/{row}.jpg", f"tiles/{SLIDE}/0/99/0.jpg"),
                ("/iiif/3/{slide_id}/info.json", f"iiif/3/{SLIDE}/info.json"),
                ("/iiif/2/{slide_id}/info.json", f"iiif/2/{SLIDE}/info.json"),
                ("/iiif/3/{slide_id}/manifest.json", f"iiif/3/{SLIDE}/manifest.json"),
                ("/iiif/3/{slide_id}/{region}/{size}/{rotation}/{quality}.{fmt}",
                 f"iiif/3/{SLIDE}/full/max/0/default.jpg"),
                ("/iiif/3/{slide_id}/{region}/{size}/{rotation}/{quality}.{fmt}",
                 f"iiif/3/{SLIDE}/full/^100000,/0/default.jpg"),
                ("/iiif/2/{slide_id}/{region}/{size}/{rotation}/{quality}.{fmt}",
                 f"iiif/2/{SLIDE}/nonsense/full/0/default.jpg"),
                ("/slides", "slides?prefix=cases/1/"),
                ("/healthz", "healthz"), ("/readyz", "readyz")]:
            answers.append((path, "get", session.get(s + url, timeout=30)))
        answers.append(("/slides", "get", requests.get(f"{s}t/{prefix_token}/slides",
                                                       timeout=10)))
        answers.append(("/iiif/3/{slide_id}", "get", session.get(
            f"{s}iiif/3/{SLIDE}", allow_redirects=False, timeout=10)))
        answers.append(("/renew", "post", session.post(s + "renew", timeout=10)))
        answers.append(("/renew", "post", requests.post(s + "renew", timeout=10)))
    statuses = [response.status_code for _, _, response in answers]
    assert statuses == [200, 200, 401, 400, 200, 403, 200, 200, 200, 200, 404, 200, 200, 200,
                        200, 413, 400, 403, 200, 200, 200, 303, 200, 401], statuses
    for path, method, response in answers:
        check_answer(spec, response, path, method)


def test_a_schema_refuses_what_it_does_not_describe(spec):
    """The schemas have teeth: a metadata answer missing its levels fails validation."""
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/SlideMetadata", "components": spec["components"]})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"id": "x", "format": "aperio", "width": 1, "height": 1})


def test_documented_output_formats_are_the_accepted_ones(spec):
    from wsi_blueprint.errors import BadRequest
    from wsi_blueprint.imaging.encode import output_format
    dzi = spec["paths"]["/dzi/{slide_id}_files/{level}/{col}_{row}.{fmt}"]["get"]
    formats = next(p["schema"]["enum"] for p in dzi["parameters"] if p["name"] == "fmt")
    assert {output_format(f) for f in formats} == {"jpeg", "png", "webp"}
    for other in ("gif", "tif", "jp2"):
        with pytest.raises(BadRequest):
            output_format(other)
