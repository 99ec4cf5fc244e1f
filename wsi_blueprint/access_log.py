"""gunicorn's access log with a timestamp on every line and no access token in any of them.

Tokens are credentials: a `/t/<token>/` path or a `?token=` in a log line would let whoever
reads the logs view the slide. The redaction happens in the logger class (serving.py names it
as gunicorn's `logger_class`), so every line is covered whatever the access log format says.
"""

import logging
import re
import time
import traceback

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
# A `t` path segment (the token form of every route, under any mount prefix) and the segment
# after it; a folder named `t` in a slide id is redacted too: the log errs on the credential's
# side.
_PATH_TOKEN = re.compile(r"(/t/)[^/?#\s]+")
_QUERY_TOKEN = re.compile(r"((?:^|[?&])token=)[^&#\s]*")
_SECRET_HEADERS = ("{authorization}i", "{cookie}i")


def redact(text: str) -> str:
    """`text` (a request line, path, query or URL) with every token replaced."""
    if "t/" not in text and "token=" not in text:
        return text
    return _QUERY_TOKEN.sub(r"\1" + REDACTED, _PATH_TOKEN.sub(r"\1" + REDACTED, text))


def _status(resp) -> str:
    status = resp.status
    return status.split(None, 1)[0] if isinstance(status, str) else status


# The atoms of the project's access formats, each made from what it needs. gunicorn's own
# `atoms` also makes one for every request header, response header and environ entry: over half
# of a cached tile's access line.
_LEAN_ATOMS = {
    "h": lambda resp, environ, took: environ.get("REMOTE_ADDR", "-"),
    "r": lambda resp, environ, took: (f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} "
                                      f"{environ['SERVER_PROTOCOL']}"),
    "s": lambda resp, environ, took: _status(resp),
    "B": lambda resp, environ, took: getattr(resp, "sent", None),
    "M": lambda resp, environ, took: took.seconds * 1000 + took.microseconds // 1000,
    "a": lambda resp, environ, took: environ.get("HTTP_USER_AGENT", "-"),
}
_TIME_ATOMS = {"time", "asctime"}
_FORMAT_ATOM = re.compile(r"%\(([^)]*)\)")


class RedactingLogger(Logger):
    """Adds the `time` (ISO 8601, UTC, as the JSON log lines) and `asctime` (as the text log
    lines) atoms, and redacts tokens from every atom, headers and environ included. A format
    that uses only `_LEAN_ATOMS` and the time atoms (the project's formats) gets just those.
    Where the access logger has one plain handler (the project's logging configuration) the
    line is written to its stream as that handler would write it."""

    _lean_for: tuple[str, frozenset | None] = ("", None)  # (format, its atoms if all lean)
    _stamps: tuple[int, str, str] = (-1, "", "")  # (second, time, asctime)

    def _lean_atoms(self) -> frozenset | None:
        fmt = self.cfg.access_log_format
        if self._lean_for[0] != fmt:  # a reload may change the format
            names = frozenset(_FORMAT_ATOM.findall(fmt))
            lean = names <= _LEAN_ATOMS.keys() | _TIME_ATOMS
            self._lean_for = (fmt, names - _TIME_ATOMS if lean else None)
        return self._lean_for[1]

    def access(self, resp, req, environ, request_time):
        handler = self._plain_handler()
        if handler is None or not self.access_log_enabled:
            return super().access(resp, req, environ, request_time)
        # A LogRecord and the logging machinery cost four times the write itself.
        try:
            atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
            line = self.cfg.access_log_format % atoms + handler.terminator
            with handler.lock:
                handler.stream.write(line)
                handler.stream.flush()
        except Exception:
            self.error(traceback.format_exc())

    def _plain_handler(self) -> logging.StreamHandler | None:
        """The access logger's only handler if it writes each message as it is to a stream
        (a console or file handler formatting `%(message)s`, nothing filtered), else None."""
        log = self.access_log
        if len(log.handlers) != 1 or log.filters or log.disabled \
                or not log.isEnabledFor(logging.INFO):
            return None
        handler = log.handlers[0]
        formatter = handler.formatter
        if type(handler) not in (logging.StreamHandler, logging.FileHandler) \
                or handler.filters or handler.level > logging.INFO or handler.stream is None \
                or type(formatter) is not logging.Formatter or formatter._fmt != "%(message)s":
            return None
        return handler

    def atoms(self, resp, req, environ, request_time):
        lean = self._lean_atoms()
        if lean is None:
            atoms = super().atoms(resp, req, environ, request_time)
        else:
            atoms = {name: _LEAN_ATOMS[name](resp, environ, request_time) for name in lean}
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = redact(value)
        for key in _SECRET_HEADERS:
            if key in atoms:
                atoms[key] = REDACTED
        second = int(time.time())
        if self._stamps[0] != second:  # formatted once a second
            self._stamps = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)),
                            time.strftime("[%Y-%m-%d %H:%M:%S %z]", time.localtime(second)))
        atoms["time"], atoms["asctime"] = self._stamps[1], self._stamps[2]
        return atoms
