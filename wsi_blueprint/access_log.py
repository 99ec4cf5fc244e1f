"""gunicorn's access log with a timestamp on every line and no access token in any of them.

Tokens are credentials: a `/t/<token>/` path or a `?token=` in a log line would let whoever
reads the logs view the slide. The redaction happens in the logger class (serving.py names it
as gunicorn's `logger_class`), so every line is covered whatever the access log format says.
"""

import re
import time

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


class RedactingLogger(Logger):
    """Adds the `time` (ISO 8601, UTC, as the JSON log lines) and `asctime` (as the text log
    lines) atoms, and redacts tokens from every atom, headers and environ included."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = redact(value)
        for key in _SECRET_HEADERS:
            if key in atoms:
                atoms[key] = REDACTED
        now = time.time()
        atoms["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        atoms["asctime"] = time.strftime("[%Y-%m-%d %H:%M:%S %z]", time.localtime(now))
        return atoms
