"""The request log (`epx --log FILE`, `$EPX_LOG`): one JSON object per line for every request sent to a console,
to attach to a support case.

Non-UI core (no textual import). Each line has the time the request was sent (UTC), the connection and its
vendor, the method, the path with its query (values whose key names a secret replaced by `***`), the status,
the elapsed milliseconds, the bytes received, the attempt number and, when it failed, the kind of failure in
words. Headers and bodies are never logged, so neither an Authorization header, a cookie, a password sent to
log in nor a token received is ever in it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

LOG_ENV = "EPX_LOG"
REDACTED = "***"
SECRET_QUERY_KEY = re.compile(r"pass|secret|token|key|auth|sig|session|cookie|code|credential", re.IGNORECASE)
"""A query parameter whose name matches this has its value replaced: it could be a credential."""

REQUEST_LOGGER = logging.getLogger("epx.requests")
REQUEST_LOGGER.propagate = False  # its records go to the --log file only, never to a handler of the root logger


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # `extra=` puts the fields in the record's own attributes, which LogRecord's type cannot name
        return json.dumps(vars(record)["fields"], ensure_ascii=False, separators=(",", ":"))


class _LogFile(logging.FileHandler):
    """The log file. A line it cannot write (a full disk) ends the log, kept in `failure` for the caller to say
    once, where logging itself would print a traceback for every line."""

    failure: OSError | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        self.failure = self.failure or error
        REQUEST_LOGGER.removeHandler(self)


def start_request_log(path: Path) -> logging.Handler:
    """Append the request log to `path` from now on (the file is created with mode 0600); an OSError says why
    it cannot be opened. Returns the handler, for `stop_request_log`."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    handler = _LogFile(path, mode="a", encoding="utf-8")
    handler.setFormatter(_JsonLines())
    REQUEST_LOGGER.addHandler(handler)
    REQUEST_LOGGER.setLevel(logging.INFO)
    return handler


def stop_request_log(handler: logging.Handler) -> OSError | None:
    """End the log; returns why some of it could not be written, if it could not."""
    REQUEST_LOGGER.removeHandler(handler)
    try:
        handler.close()
    except OSError as error:  # the last lines, flushed on closing
        return getattr(handler, "failure", None) or error
    return getattr(handler, "failure", None)


def request_log_enabled() -> bool:
    return REQUEST_LOGGER.isEnabledFor(logging.INFO)


def log_request(
    *,
    sent: datetime,
    connection: str,
    vendor: str,
    method: str,
    target: str,
    status: int | None,
    elapsed_ms: float,
    received: int,
    attempt: int,
    error: str | None,
) -> None:
    """One line of the log; `target` must already be redacted (see `redacted_target`)."""
    REQUEST_LOGGER.info("request", extra={"fields": {
        "time": sent.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "connection": connection,
        "vendor": vendor,
        "method": method,
        "path": target,
        "status": status,
        "elapsed_ms": round(elapsed_ms, 1),
        "bytes": received,
        "attempt": attempt,
        "error": error,
    }})


def redacted_target(path: str, params: Mapping[str, Any] | None, secrets: tuple[str | None, ...]) -> str:
    """The path and query as sent, decoded, with the values of secret-looking query keys and any of `secrets`
    (the password, the token) blanked out wherever they appear."""
    import httpx  # here: the clients that call this have it, and `epx` reads LOG_ENV before any client exists

    url = httpx.URL(path)
    if params:
        url = url.copy_merge_params(params)

    def scrub(text: str) -> str:
        for secret in secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    query = "&".join(
        f"{quote_plus(scrub(key))}="
        + (REDACTED if SECRET_QUERY_KEY.search(key) else quote_plus(scrub(value), safe="*"))
        for key, value in httpx.QueryParams(url.query).multi_items()
    )
    return scrub(url.path) + (f"?{query}" if query else "")


def status_words(status: int) -> str:
    """The standard reason phrase of a failed status, lower-case ("too many requests")."""
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return f"http status {status}"
