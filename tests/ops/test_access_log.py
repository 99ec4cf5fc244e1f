"""The access log of the real server: a timestamp on every line, no access token in any line
(text and JSON formats), and a request refused as corrupt (422) costs one line, no traceback."""

import datetime
import io
import json
import logging
import re
import shutil
from unittest import mock

import pytest
import requests
from gunicorn.config import Config
from gunicorn.glogging import Logger

from helpers import testdata_path
from live_server import LiveServer
from wsi_blueprint.access_log import REDACTED, RedactingLogger, redact
from wsi_blueprint.serving import JSON_ACCESS_FORMAT, TEXT_ACCESS_FORMAT

SECRET = "k1:0123456789abcdef0123456789"
SIGN_KEY = "admin-0123456789abcdef"
TEXT_STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] ")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides")
    shutil.copy(testdata_path("CMU-1-Small-Region.svs"), folder / "a.svs")
    shutil.copy(testdata_path("corrupt-tile.svs"), folder / "corrupt.svs")
    return folder


def sign(live, slide_id: str) -> str:
    response = requests.post(live.url + "sign", json={"slide_id": slide_id},
                             headers={"Authorization": f"Bearer {SIGN_KEY}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def make_requests(live) -> list[str]:
    """Every way a token travels in a URL, a corrupt tile, and the tokens used."""
    token, corrupt = sign(live, "a.svs"), sign(live, "corrupt.svs")
    session = requests.Session()
    assert session.get(f"{live.url}t/{token}/slides/a.svs", timeout=10).status_code == 200
    assert session.get(f"{live.url}slides/a.svs?token={token}&x=1", timeout=10).status_code == 200
    assert session.get(f"{live.url}dzi/a.svs.dzi?x=1&token={token}", timeout=10,
                       headers={"Referer": f"{live.url}view/a.svs?token={token}"}
                       ).status_code == 200
    assert session.get(f"{live.url}t/not-a-real-token/slides/a.svs", timeout=10
                       ).status_code in (401, 403)
    tile = session.get(f"{live.url}t/{corrupt}/tiles/corrupt.svs/0/0/0.jpg", timeout=10)
    assert tile.status_code == 422 and tile.json()["error"] == "corrupt_slide"
    return [token, corrupt, "not-a-real-token"]


def test_text_access_lines_are_dated_and_carry_no_token(folder):
    env = {"WSI_AUTH_SECRET": SECRET, "WSI_SIGN_KEY": SIGN_KEY, "WSI_PREFETCH": "off"}
    with LiveServer(folder, workers=1, env=env) as live:
        tokens = make_requests(live)
    log = live.log  # after the stop: a worker writes a line after its answer
    access = [line for line in log.splitlines() if '"GET ' in line or '"POST ' in line]
    assert len(access) >= 7, log[-3000:]
    for line in access:
        assert TEXT_STAMP.match(line), line
    for token in tokens:
        assert token not in log
    assert f'"GET /t/{REDACTED}/slides/a.svs HTTP/1.1" 200' in log
    assert f'"GET /slides/a.svs?token={REDACTED}&x=1 HTTP/1.1" 200' in log
    assert f'"GET /dzi/a.svs.dzi?x=1&token={REDACTED} HTTP/1.1" 200' in log
    corrupt = [line for line in log.splitlines() if "corrupt.svs" in line]
    assert len(corrupt) == 1 and '" 422 ' in corrupt[0], corrupt
    assert "Traceback" not in log and "CorruptSlide" not in log


def test_json_access_lines_are_dated_and_carry_no_token(folder):
    env = {"WSI_AUTH_SECRET": SECRET, "WSI_SIGN_KEY": SIGN_KEY, "WSI_PREFETCH": "off",
           "WSI_LOG_FORMAT": "json"}
    with LiveServer(folder, workers=1, env=env) as live:
        tokens = make_requests(live)
    log = live.log  # after the stop: a worker writes a line after its answer
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [e for e in entries if "request" in e]
    assert len(access) >= 7, log[-3000:]
    for entry in access:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", entry["time"]), entry
    for token in tokens:
        assert token not in log
    requested = [e["request"] for e in access]
    assert f"GET /t/{REDACTED}/tiles/corrupt.svs/0/0/0.jpg HTTP/1.1" in requested
    assert [e["status"] for e in access if "corrupt.svs" in e["request"]] == [422]
    assert "Traceback" not in log


@pytest.mark.parametrize("given, logged", [
    ("GET /t/abc.def/slides/x.svs HTTP/1.1", f"GET /t/{REDACTED}/slides/x.svs HTTP/1.1"),
    ("/mount/t/abc.def/dzi/x.dzi", f"/mount/t/{REDACTED}/dzi/x.dzi"),
    ("token=abc&x=1", f"token={REDACTED}&x=1"),
    ("/iiif/3/x/info.json?a=1&token=abc", f"/iiif/3/x/info.json?a=1&token={REDACTED}"),
    ("/slides?mytoken=abc&prefix=t/", "/slides?mytoken=abc&prefix=t/"),
    ("/slides/cases/42/a.svs", "/slides/cases/42/a.svs"),
])
def test_redact(given, logged):
    assert redact(given) == logged


class _Response:
    status, sent = "200 OK", 12345
    headers = [("Content-Type", "image/jpeg"), ("Content-Length", "12345")]


class _Request:
    headers = [("HOST", "x"), ("USER-AGENT", 'Viewer/1.0 "quoted"'), ("X-Case", "c42")]


def _access_lines(access_format: str, lean: bool, handler: logging.Handler | None = None
                  ) -> list[str]:
    """The access lines gunicorn writes for one request, through our logger with or without its
    lean atoms (the time atoms fixed, so that two lines can be compared), to `handler` or to
    one that goes through the logging machinery."""
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", access_format)
    logger = RedactingLogger(cfg)
    if not lean:
        logger._lean_atoms = lambda: None
    lines = []
    if handler is None:
        handler = logging.Handler()
        handler.emit = lambda record: lines.append(record.getMessage())
    logger.access_log.handlers = [handler]
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/t/abc123/dzi/a.svs_files/9/0_1.jpeg?x=1",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.1.2.3", "PATH_INFO": "/p",
               "QUERY_STRING": "token=abc123", "HTTP_USER_AGENT": 'Viewer/1.0 "quoted"',
               "HTTP_X_CASE": "c42"}
    with mock.patch("time.time", return_value=1_800_000_000.0):
        logger.access(_Response, _Request, environ, datetime.timedelta(microseconds=3456789))
    if isinstance(handler, logging.StreamHandler):
        lines = handler.stream.getvalue().splitlines()
    assert isinstance(logger, Logger)
    return lines


def _access_line(access_format: str, lean: bool, handler: logging.Handler | None = None) -> str:
    lines = _access_lines(access_format, lean, handler)
    assert len(lines) == 1
    return lines[0]


def _stream_handler(fmt: str = "%(message)s") -> logging.StreamHandler:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter(fmt))
    return handler


@pytest.mark.parametrize("access_format", ["text", "json"])
def test_the_lean_access_atoms_write_what_gunicorns_atoms_write(access_format):
    """The project's formats are filled from the few atoms they use; the line is the one that
    gunicorn's every-header atoms give, redacted and escaped alike."""
    fmt = {"text": TEXT_ACCESS_FORMAT, "json": JSON_ACCESS_FORMAT}[access_format]
    lean = _access_line(fmt, lean=True)
    assert lean == _access_line(fmt, lean=False)
    assert "abc123" not in lean and REDACTED in lean and "3456" in lean and "12345" in lean


def test_a_format_with_other_atoms_gets_gunicorns_atoms():
    """A format naming a header atom is filled by gunicorn's atoms (tokens still redacted)."""
    line = _access_line('%(h)s "%(r)s" %({x-case}i)s %(q)s', lean=True)
    assert line == f'10.1.2.3 "GET /t/{REDACTED}/dzi/a.svs_files/9/0_1.jpeg?x=1 HTTP/1.1" c42 ' \
                   f'token={REDACTED}'


@pytest.mark.parametrize("access_format", ["text", "json", "other atoms"])
def test_a_plain_stream_handler_gets_the_line_logging_would_write(access_format):
    """Written straight to the stream of the project's handler (one StreamHandler writing the
    message as it is), the line is the one the logging machinery writes."""
    fmt = {"text": TEXT_ACCESS_FORMAT, "json": JSON_ACCESS_FORMAT,
           "other atoms": '%(h)s "%(r)s" %({x-case}i)s %(q)s'}[access_format]
    assert _access_line(fmt, lean=True, handler=_stream_handler()) == \
        _access_line(fmt, lean=True)


def test_a_handler_that_formats_or_filters_gets_a_log_record():
    """Any other handler setup (a formatter of its own, a filter) sees a record as before."""
    stamped = _stream_handler("ACCESS %(levelname)s %(message)s")
    assert _access_line(TEXT_ACCESS_FORMAT, lean=True, handler=stamped) == \
        "ACCESS INFO " + _access_line(TEXT_ACCESS_FORMAT, lean=True)
    filtered = _stream_handler()
    filtered.addFilter(lambda record: False)
    assert _access_lines(TEXT_ACCESS_FORMAT, lean=True, handler=filtered) == []
