"""The vendor-client protocol and the HTTP plumbing every vendor shares.

One `httpx.AsyncClient` per open connection (keep-alive, bounded timeouts, TLS verified by default).
Every failure leaves this module as a `VendorError` subclass whose message a user can act on; no message
ever carries a secret, a token or a request body.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import operator
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import httpx
import msgspec

from tui.models import (
    Capabilities,
    Connection,
    Device,
    DevicePage,
    DeviceQuery,
    Group,
    RawPage,
    ServerInfo,
    json_loads,
    visible,
)
from tui.request_log import log_request, redacted_target, request_log_enabled, status_words
from tui.respond import ACTIONS, MESSAGE_MAX, ActionResult, ResponseAction, chunks, refused
from tui.vendors.facets import CommandQueue, EventAcknowledgement, EventSource, FingerprintLists, ResponseActions

T = TypeVar("T")

Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""An integer of a typed page (`parse_typed_page`): a wider one (msgspec bounds no wider) fails the typed decode, so the page is read as
any other body, where it becomes a float (`json_loads`) and maps as it always has."""

USER_AGENT = "endpoint-explorer/0.1"
TIMEOUT = httpx.Timeout(20.0, connect=8.0)
MAX_ATTEMPTS = 4
"""An idempotent GET is sent at most this often; authentication failures are never retried."""
BACKOFF_S = (0.5, 1.0, 2.0)
RETRY_AFTER_CAP_S = 120.0
"""A server asking for a longer pause than this gets an error instead: the user can retry later."""
DEFAULT_PAGE_CONCURRENCY = 4
REQUEST_TIMEOUT_S = 120.0
"""The whole of one request (connect, send, every byte of the answer) must fit in this: httpx's own timeouts
count per read, so a body that trickles in a byte at a time would never end otherwise."""
TOKEN_MARGIN_S = 60
"""A token is renewed this long (or a tenth of its life, if shorter) before it expires."""


class VendorError(Exception):
    """A failure talking to a console, worded for the person at the keyboard."""

    title: ClassVar[str] = "Request failed"
    hint: str = ""

    def __init__(
        self, message: str, *, status: int | None = None, hint: str | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        """A GET that failed this way may succeed if sent again (429, 502-504, a dropped connection)."""
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class AuthenticationError(VendorError):
    title = "Authentication failed"
    hint = "Check the user name and password of this connection."


class ForbiddenError(VendorError):
    title = "Forbidden"
    hint = "The API user lacks the role this call needs; ask the console's administrator."


class NotFoundError(VendorError):
    title = "Not found"


class RateLimitedError(VendorError):
    title = "Rate limited"
    hint = "Wait a moment and refresh (ctrl+r)."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(VendorError):
    title = "Server error"
    hint = "The console failed; try again, and check its health if it persists."


class BadResponseError(VendorError):
    title = "Bad response"
    hint = "The server's answer is not what this API returns; is the URL the console's API address?"


class NetworkError(VendorError):
    title = "Network unreachable"
    hint = "Check the URL, the port and that this host can reach the console."


class TlsError(VendorError):
    title = "TLS failure"
    hint = "Give the console's CA bundle in the profile's TLS row (`verify` in the config file); lab only: do not verify."


class WriteRefusedError(VendorError):
    """A change asked of a connection whose profile says `read_only = true` (the default); nothing was sent."""

    title = "Read-only connection"
    hint = "To allow changes, set `read_only = false` in this connection's profile and open it again."


class NotAvailableError(VendorError):
    """A source of data this connection cannot read, said plainly rather than as a failure.

    `scope` says why: "vendor" (the API has no such source), "user" (this API user or client may not read it)
    or "server" (this console's version does not offer it). The message is one sentence for the screen.
    """

    title = "Not available"

    def __init__(self, message: str, *, scope: str = "vendor", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.scope = scope


class BadRequestError(VendorError):
    """400 on a change: the console found the request invalid (e.g. SEPM: assigning a list that does not exist)."""

    title = "Request rejected"


class ConflictError(VendorError):
    """409: the change clashes with what exists (e.g. SEPM: a fingerprint list of that name)."""

    title = "Conflict"


class UnprocessableError(VendorError):
    """422: the console cannot do this in its current state (e.g. SEPM: system lockdown disabled)."""

    title = "Not possible now"


class LockedError(VendorError):
    """423: the object is locked, usually by another administrator's edit."""

    title = "Locked"
    hint = "Wait until the other edit is finished, then try again."


WRITE_ERRORS: dict[int, type[VendorError]] = {
    400: BadRequestError,
    404: NotFoundError,
    409: ConflictError,
    410: NotFoundError,
    422: UnprocessableError,
    423: LockedError,
}
"""The statuses a change is explained by, and the error each one raises (see `BearerTokenClient.authed_write`)."""
_WRITE_MEANINGS = {
    400: "the console found the request invalid.",
    404: "the object does not exist (any more).",
    409: "it conflicts with something that already exists.",
    410: "the object does not exist (any more).",
    422: "the console cannot do this in its current state.",
    423: "the object is locked.",
}


def _ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    if isinstance(verify, str):
        bundle = Path(verify).expanduser()
        try:
            return ssl.create_default_context(cafile=str(bundle))
        except OSError as error:  # ssl.SSLError too: a file that holds no certificate
            reason = getattr(error, "reason", None) or error.strerror or "it could not be read"
            raise TlsError(f"The CA bundle {bundle} cannot be used ({reason}).") from None
    return verify


def _root_cause_is(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _transport_failure_words(exc: httpx.TransportError) -> str:
    """What went wrong below HTTP, in words, for the request log."""
    if _root_cause_is(exc, ssl.SSLError) is not None:
        return "TLS failure"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "connection dropped"
    return f"transport failure ({type(exc).__name__})"


_TIMEOUT_WORDS: dict[type[Exception], str] = {
    httpx.ConnectTimeout: "while connecting",
    httpx.WriteTimeout: "while the request was sent",
    httpx.ReadTimeout: "while it was answering",
    httpx.PoolTimeout: "no connection was free",
}
_TRANSPORT_WORDS: dict[type[Exception], str] = {
    httpx.ProxyError: "the proxy refused it",
    httpx.UnsupportedProtocol: "the URL must start with https:// or http://",
    httpx.LocalProtocolError: "the request could not be sent",
}
"""httpx's failures in words: no class name reaches the person at the keyboard."""


def html_title(text: str) -> str:
    """The title (or first heading) of an HTML error page, as plain text."""
    match = re.search(r"<title>(.*?)</title>|<h1[^>]*>(.*?)</h1>", text, re.IGNORECASE | re.DOTALL)
    if not match:
        return ""
    raw = match.group(1) or match.group(2) or ""
    return visible(" ".join(unescape(re.sub(r"<[^>]+>", "", raw)).split()))


def epoch_ms(value: Any) -> datetime | None:
    """Epoch milliseconds to an aware UTC datetime; 0, null or junk (a moment no calendar holds too) mean never."""
    try:
        millis = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if millis <= 0:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # beyond the platform's time_t or after the year 9999
        return None


def rfc3339(value: Any) -> datetime | None:
    """An RFC 3339 timestamp ("2022-11-05T07:08:59-08:00", "...59.550Z", lower-case t and z) as aware UTC;
    None when absent or unreadable. A timestamp without an offset is taken as UTC."""
    if not isinstance(value, str):
        return None
    if value.isascii():  # as consoles send it ("...59.550Z"), without a stripped, upper-case copy (same meaning)
        try:
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo is UTC else moment.replace(tzinfo=UTC) if moment.tzinfo is None \
                else moment.astimezone(UTC)
        except (ValueError, OverflowError):  # a lower-case "z", spaces around it, junk: read as below
            pass
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().upper())
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that moves year 1 or 9999 out of range
        return None


def epoch_or_rfc3339(value: Any) -> datetime | None:
    """A time a console sends as epoch milliseconds (a number, or a string of digits) or as RFC 3339 / ISO 8601
    text (UTC when it has no zone: SEPM's "2024-06-26 14:02:50.0" too); None when absent, a JSON boolean or
    unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        return epoch_ms(value)
    return rfc3339(value)


WaitListener = Callable[[str | None], None]
"""Told why a client pauses (a 429, a retry) and, with None, that it goes on."""
_wait_listener: ContextVar[WaitListener | None] = ContextVar("wait_listener", default=None)


@contextlib.contextmanager
def waits_told_to(listener: WaitListener) -> Iterator[None]:
    """Report the pauses of every client call made in this block (and in the tasks it starts) to `listener`.

    Per call, not per client: two screens loading from one shared client each hear only their own waits.
    """
    token = _wait_listener.set(listener)
    try:
        yield
    finally:
        _wait_listener.reset(token)


def loose_items(page: Any, key: str, record: Callable[[dict[str, Any]], Any]) -> list[Any] | None:
    """The list under `key` of a page decoded any other way (`VendorClient.parse_typed_page`), its objects made
    `record`s and other items left as they are, for the mapping to skip; None when it is no page object."""
    if not isinstance(page, dict) or not isinstance(page.get(key), list):
        return None
    return [record(item) if isinstance(item, dict) else item for item in page[key]]


class VendorClient(abc.ABC):
    """One open connection to one console.

    Subclasses implement the vendor's calls and mapping; this class owns the `httpx.AsyncClient`
    and turns every transport or HTTP failure into a typed `VendorError`.
    """

    vendor: ClassVar[str]
    product: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    """Derived from the facets the class offers (`EventSource`, `CommandQueue`, ...), never declared."""
    server_filters: ClassVar[frozenset[str]] = frozenset()
    """The `DeviceQuery` flags the console filters on (the rest are applied locally)."""

    _token: str | None = None
    """The session token of a vendor that logs in for one; like the password, never shown in a message."""

    def __init__(
        self,
        connection: Connection,
        secret: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        page_concurrency: int = DEFAULT_PAGE_CONCURRENCY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        request_timeout: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.connection = connection
        self.request_timeout = request_timeout
        self._secret = secret
        self.clock = clock or (lambda: datetime.now(UTC))
        self.page_concurrency = max(1, page_concurrency)
        self.sleep = sleep
        self.http = httpx.AsyncClient(
            base_url=connection.url.rstrip("/"),
            verify=_ssl_context(connection.verify),
            timeout=TIMEOUT,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.capabilities = Capabilities(
            fingerprints=issubclass(cls, FingerprintLists), events=issubclass(cls, EventSource),
            commands=issubclass(cls, CommandQueue), acknowledge=issubclass(cls, EventAcknowledgement))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection.name} {self.connection.url}>"

    async def aclose(self) -> None:
        await self.http.aclose()

    @abc.abstractmethod
    async def probe(self) -> ServerInfo:
        """Reach the console without credentials and say what it is."""

    @abc.abstractmethod
    async def check_login(self) -> None:
        """Authenticate (or make the cheapest authenticated call); raises on bad credentials."""

    @abc.abstractmethod
    async def groups(self) -> list[Group]:
        """The whole group tree, parents before children where the API allows."""

    @abc.abstractmethod
    def devices(self, query: DeviceQuery = DeviceQuery()) -> AsyncIterator[DevicePage]:
        """The console's devices, one page at a time as pages arrive.

        `query` is applied on the server as far as the API allows; callers still filter locally with
        `tui.inventory.DeviceFilter`, which has the same meaning, for whatever the server ignored.
        """

    def error_message(self, payload: Any) -> str | None:
        """The human message inside a vendor error body, if the vendor has one."""
        return None

    async def request(self, method: str, path: str, *, attempt: int = 1, **kwargs: Any) -> httpx.Response:
        """Send one request and return a 2xx response, or raise the matching `VendorError`."""
        try:
            response = await self._send(method, path, attempt=attempt, **kwargs)
        except httpx.TimeoutException as exc:
            words = _TIMEOUT_WORDS.get(type(exc), "waiting")
            raise NetworkError(f"{self._where()} did not answer in time ({words}).") from None
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        if response.is_success:
            return response
        raise self._status_error(response)

    async def _send(self, method: str, path: str, *, attempt: int = 1, **kwargs: Any) -> httpx.Response:
        """Every request of every vendor goes out here, so the request log (`epx --log`) sees each one: when,
        what, its status, time, size and attempt number, and never a header or a body."""
        if not request_log_enabled():
            return await self._request_in_time(method, path, **kwargs)
        sent, started = datetime.now(UTC), time.perf_counter()
        response: httpx.Response | None = None
        error: str | None = None
        try:
            response = await self._request_in_time(method, path, **kwargs)
        except httpx.TransportError as exc:
            error = _transport_failure_words(exc)
            raise
        except NetworkError:
            error = "timed out"
            raise
        except asyncio.CancelledError:
            error = "cancelled"
            raise
        finally:
            if response is not None and not response.is_success:
                error = status_words(response.status_code)
            log_request(
                sent=sent,
                connection=self.connection.name,
                vendor=self.vendor,
                method=method,
                target=redacted_target(path, kwargs.get("params"), (self._secret, self._token)),
                status=response.status_code if response is not None else None,
                elapsed_ms=(time.perf_counter() - started) * 1000,
                received=response.num_bytes_downloaded if response is not None else 0,
                attempt=attempt,
                error=error,
            )
        return response

    async def _request_in_time(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """`http.request` (which reads the whole body) within `request_timeout`; past it, a retryable
        `NetworkError`, as for a dropped connection."""
        try:
            async with asyncio.timeout(self.request_timeout):
                return await self.http.request(method, path, **kwargs)
        except TimeoutError:
            raise NetworkError(
                f"{self._where()} did not finish answering within {self.request_timeout:g} s.", retryable=True
            ) from None

    async def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like `request`, then parse the body as JSON (an HTML page or junk is a `BadResponseError`)."""
        response = await self.request(method, path, **kwargs)
        return self.parse_json(response)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """An idempotent GET, sent again with bounded backoff on 429, 502, 503, 504 and dropped connections
        (see `read_request`)."""
        return await self.read_request("GET", path, **kwargs)

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        """`get`, then parse the body as JSON."""
        return self.parse_json(await self.get(path, **kwargs))

    def _tell_wait(self, reason: str | None) -> None:
        listener = _wait_listener.get()
        if listener is not None:
            listener(f"{self.product}: {reason}" if reason else None)

    def parse_json(self, response: httpx.Response) -> Any:
        content_type = response.headers.get("content-type", "")
        if "html" in content_type:
            title = self._redact(html_title(response.text))
            raise BadResponseError(
                f"{self._where()} answered {response.request.url.path} with an HTML page"
                + (f" ({title})." if title else ".")
            )
        try:
            return json_loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise BadResponseError(
                f"{self._where()} sent a malformed or truncated JSON body for {response.request.url.path}."
            ) from None

    def parse_page(self, response: httpx.Response, key: str) -> tuple[Any, RawPage]:
        """A page of a listing parsed, and its body kept as a `RawPage` (`key` names the record list)."""
        return self.parse_json(response), RawPage.compress(response.content, key)

    def parse_typed_page(self, response: httpx.Response, decoder: msgspec.json.Decoder[T], key: str,
                         loose: Callable[[Any], T | None]) -> tuple[T | None, RawPage]:
        """A page of a listing decoded straight into `decoder`'s structs, which name only the fields the mapping
        reads (a fraction of the CPU of decoding every field into dicts), and its body kept as a `RawPage`.

        A body of any other shape (a field of another type, a number no double or 64-bit integer holds, bytes
        that are not UTF-8 anywhere, junk) fails that decode and is parsed as before (`parse_page`), then made
        into the same structs by `loose` (None: not a page at all), unchecked: the mapping reads every field as
        defensively as it did from dicts, so junk is handled exactly as it was.
        """
        body = response.content
        if "html" not in response.headers.get("content-type", ""):
            try:
                if not body.isascii():
                    body.decode("utf-8")  # the typed decode skips unread strings without checking them
                return decoder.decode(body), RawPage.compress(body, key)
            except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
                pass
        page, raw = self.parse_page(response, key)
        return loose(page), raw

    def _where(self) -> str:
        return f"{self.product} at {self.http.base_url.host}"

    def _transport_error(self, exc: httpx.TransportError) -> VendorError:
        cert_problem = _root_cause_is(exc, ssl.SSLCertVerificationError)
        if cert_problem is not None:
            reason = getattr(cert_problem, "verify_message", "") or "certificate not trusted"
            return TlsError(f"The certificate of {self._where()} was rejected: {reason.rstrip('.')}.")
        if _root_cause_is(exc, ssl.SSLError) is not None:
            return TlsError(f"The TLS handshake with {self._where()} failed.")
        if isinstance(exc, httpx.ConnectError):
            return NetworkError(f"Cannot connect to {self._where()} (port {self.http.base_url.port or 443}).")
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            return NetworkError(f"{self._where()} closed the connection mid-response.", retryable=True)
        words = _TRANSPORT_WORDS.get(type(exc), "a failure below HTTP")
        return NetworkError(f"The connection to {self._where()} failed ({words}).")

    def _status_error(self, response: httpx.Response) -> VendorError:
        status = response.status_code
        detail = self._error_detail(response)
        path = response.request.url.path
        said = f": {detail}" if detail else "."
        if detail and not detail.endswith((".", "!", "?")):
            said += "."  # the hint follows as its own sentence
        if status == 401:
            return AuthenticationError(f"{self._where()} refused the credentials (401){said}", status=status)
        if status == 403:
            return ForbiddenError(f"{self._where()} forbids {path} (403){said}", status=status)
        if status in (404, 410):
            return NotFoundError(f"{self._where()} has no {path} ({status}){said}", status=status)
        if status == 429:
            retry_after = _retry_after(response.headers.get("retry-after"))
            wait = f" Retry after {retry_after:g} s." if retry_after is not None else ""
            return RateLimitedError(
                f"{self._where()} is rate limiting requests (429){said}{wait}",
                status=status, retry_after=retry_after, retryable=True,
            )
        if status >= 500:
            return ServerError(
                f"{self._where()} failed on {path} ({status}){said}", status=status, retryable=status in (502, 503, 504)
            )
        return VendorError(f"{self._where()} rejected {path} ({status}){said}", status=status)

    def _error_detail(self, response: httpx.Response) -> str:
        content_type = response.headers.get("content-type", "")
        if "html" in content_type:
            return self._redact(html_title(response.text))
        try:
            payload = json_loads(response.content)
        except (ValueError, UnicodeDecodeError):
            return ""
        message = self.error_message(payload)
        return visible(" ".join(self._redact(str(message)).split())[:300]) if message else ""

    def _redact(self, text: str) -> str:
        """Server text with the password and the token blanked out: some servers echo what they were sent."""
        for secret in (self._secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def ensure_writable(self, action: str) -> None:
        """Raise `WriteRefusedError` unless the connection allows changes; `action` says what was asked
        ("create fingerprint list 'X'"). Every write checks this before anything is sent."""
        if self.connection.read_only:
            raise WriteRefusedError(f"Connection {self.connection.name} is read-only, so it did not {action}.")

    async def read_request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request that only reads, whatever its method (Elements searches events with a POST): sent again
        with bounded backoff on 429, 502, 503, 504 and dropped connections, Retry-After obeyed up to
        `RETRY_AFTER_CAP_S` (a longer wait is raised at once), each wait reported to the listener of `waits_told_to`. Never
        use it for a change."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = await self.request(method, path, attempt=attempt + 1, **kwargs)
            except VendorError as error:
                if not error.retryable or attempt == MAX_ATTEMPTS - 1:
                    raise
                retry_after = getattr(error, "retry_after", None)
                if retry_after is not None and retry_after > RETRY_AFTER_CAP_S:
                    raise
                delay = retry_after if retry_after is not None else BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                self._tell_wait(
                    f"{error.title.lower()}; retrying in {delay:g} s (attempt {attempt + 2} of {MAX_ATTEMPTS})")
                await self.sleep(delay)
                continue
            if attempt:
                self._tell_wait(None)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")


class BearerTokenClient(VendorClient):
    """A console that hands out an expiring bearer token (SEPM, Elements).

    The token is reused until shortly before it expires; a call that answers 401 fetches a new one
    once and is replayed once, so a second 401 is a real authentication failure. Concurrent pages that
    meet an expired token share one new login.
    """

    _token_expires: float = 0.0
    _logins = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._login_lock = asyncio.Lock()

    @abc.abstractmethod
    async def fetch_token(self) -> tuple[str, float]:
        """Log in: a new token and its lifetime in seconds (0 when the server gives none)."""

    async def check_login(self) -> None:
        await self._authenticate(seen=self._logins)

    async def _authenticate(self, *, seen: int) -> None:
        """Log in, unless another request logged in since this one saw login number `seen`."""
        async with self._login_lock:
            if self._logins != seen and self._token is not None and not self._token_expired():
                return
            token, lifetime = await self.fetch_token()
            if not (token.isascii() and token.isprintable()):  # it goes into a header, where only ASCII may
                raise BadResponseError(f"{self._where()} returned a token that cannot be sent back in a header.")
            margin = min(TOKEN_MARGIN_S, lifetime / 10)
            self._token = token
            self._token_expires = self.clock().timestamp() + lifetime - margin if lifetime > 0 else float("inf")
            self._logins += 1

    def _token_expired(self) -> bool:
        return self.clock().timestamp() >= self._token_expires

    async def authed_get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """`authed_response`, then parse the body as JSON."""
        return self.parse_json(await self.authed_response(path, params, **kwargs))

    async def authed_response(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """An idempotent GET with the bearer token (see the class docstring for 401 handling)."""
        if self._token is None or self._token_expired():
            await self._authenticate(seen=self._logins)
        seen = self._logins
        try:
            return await self.get(path, params=params, headers=self._bearer(), **kwargs)
        except AuthenticationError:
            await self._authenticate(seen=seen)
        return await self.get(path, params=params, headers=self._bearer(), **kwargs)

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def authed_write(
        self,
        method: str,
        path: str,
        *,
        action: str,
        explain: dict[int, str] | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """A change (POST, PUT, DELETE) with the bearer token: refused on a read-only connection, never
        retried blindly.

        `action` says what the change does, in words that follow "did not" ("create fingerprint list 'X'").
        Nothing is sent when the profile says `read_only = true`. The only replay is after a 401: the
        console refused the token before acting, so the change is sent once more after a new login. Any
        other failure raises at once: 400, 404, 409, 410, 422 and 423 as the `WRITE_ERRORS` class with the
        meaning of the status from `explain` (a general one otherwise) and the console's own message; a
        dropped connection or a timeout says the change may have been made.
        """
        self.ensure_writable(action)
        if self._token is None or self._token_expired():
            await self._authenticate(seen=self._logins)
        seen = self._logins
        response = await self._send_write(method, path, action, headers, kwargs)
        if response.status_code == 401:
            await self._authenticate(seen=seen)
            response = await self._send_write(method, path, action, headers, kwargs)
        if response.is_success:
            return response
        status = response.status_code
        kind = WRITE_ERRORS.get(status)
        if kind is None:
            raise self._status_error(response)
        meaning = (explain or {}).get(status) or _WRITE_MEANINGS[status]
        detail = self._error_detail(response)
        said = f' It said: "{detail.rstrip(".")}".' if detail else ""
        raise kind(f"{self._where()} did not {action} ({status}): {meaning}{said}", status=status)

    async def _send_write(
        self, method: str, path: str, action: str, headers: dict[str, str] | None, kwargs: dict[str, Any]
    ) -> httpx.Response:
        """Send a change once; a failure on the way says whether the console may have made it."""
        try:
            return await self._send(method, path, headers={**(headers or {}), **self._bearer()}, **kwargs)
        except httpx.ConnectTimeout:
            raise NetworkError(f"{self._where()} did not accept the connection in time; nothing was sent.") from None
        except httpx.ConnectError as exc:  # nothing was sent (a rejected certificate lands here too)
            raise self._transport_error(exc) from None
        except NetworkError:  # past `request_timeout`: sent, but the answer never finished
            raise NetworkError(
                f"{self._where()} did not finish answering within {self.request_timeout:g} s while asked to "
                f"{action}: it may or may not have done it; look before sending it again."
            ) from None
        except httpx.TransportError as exc:
            reason = "did not answer in time" if isinstance(exc, httpx.TimeoutException) else "dropped the connection"
            raise NetworkError(
                f"{self._where()} {reason} while asked to {action}: it may or may not have done it; "
                "look before sending it again."
            ) from None

    async def authed_read(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request that only reads (any method) with the bearer token: retried like `read_request`, and after
        a 401 sent once more with a new token, as `authed_response` does for a GET."""
        if self._token is None or self._token_expired():
            await self._authenticate(seen=self._logins)
        seen = self._logins
        headers = kwargs.pop("headers", None) or {}
        try:
            return await self.read_request(method, path, headers={**headers, **self._bearer()}, **kwargs)
        except AuthenticationError:
            await self._authenticate(seen=seen)
        return await self.read_request(method, path, headers={**headers, **self._bearer()}, **kwargs)


def token_lifetime(value: Any) -> float:
    """A token lifetime in seconds as servers send it (number or string); 0 when unreadable."""
    try:
        return max(0.0, float(value or 0))
    except (TypeError, ValueError):
        return 0.0


class PagingGuard:
    """Stops a listing whose pages never end (issue 13): a console that says more pages follow for ever, or
    sends the same page again and again, gets a `BadResponseError` in words instead of endless requests.

    `total` is the number of records the console said the listing holds (None when it said none), `page_size`
    the records asked for per page, `id_keys` the fields that tell a record apart (the first one a record has
    counts; of a typed record, `parse_typed_page`, its fields of those JSON names). A page whose record ids are
    those of the previous page, more records than the stated total allows, or `MAX_EMPTY_RUN` empty pages in a
    row (cursor paging, where an empty page with a next anchor is legal once in a while) is a bad response;
    `pages_allowed` bounds the page count a first page claims.
    """

    MAX_EMPTY_RUN = 20

    def __init__(self, where: str, path: str, total: int | None, page_size: int,
                 id_keys: tuple[str, ...] = ("id",)) -> None:
        self.where, self.path, self.total, self.page_size = where, path, total, max(1, page_size)
        self.id_keys = id_keys
        self.received = 0
        self._previous: list[Any] | None = None
        self._empty_run = 0

    def pages_allowed(self, claimed: int) -> int:
        """`claimed` pages, if the stated total allows that many; raises if it does not."""
        if self.total is not None and claimed > -(-self.total // self.page_size) + 1:
            raise BadResponseError(
                f"{self.where} says {self.path} has {claimed:,} pages of {self.page_size:,} for {self.total:,} "
                "records: its paging is broken, so the listing was stopped.")
        return claimed

    def check(self, records: list[Any]) -> None:
        """A page's records, in order: raises for a repeated page or one past the stated total."""
        kinds = set(map(type, records))
        kind = kinds.pop() if len(kinds) == 1 else None
        if kind is not None and issubclass(kind, msgspec.Struct):  # a typed page: its ids read column by column
            columns = [list(map(read, records)) for read in _id_fields(kind, self.id_keys)]
            ids = [next(filter(None, values), None) for values in zip(*columns)] if columns else [None] * len(records)
        else:
            ids = [next((record.get(key) for key in self.id_keys if record.get(key)), None) if isinstance(record, dict)
                   else next((read(record) for read in _id_fields(type(record), self.id_keys) if read(record)), None)
                   if isinstance(record, msgspec.Struct) else record for record in records]
        if ids and ids == self._previous:
            raise BadResponseError(
                f"{self.where} sent the same page of {self.path} twice in a row: its paging never ends, so the "
                f"listing was stopped after {self.received:,} records.")
        self._previous = ids
        self.received += len(ids)
        self._empty_run = 0 if ids else self._empty_run + 1
        if self._empty_run >= self.MAX_EMPTY_RUN:
            raise BadResponseError(
                f"{self.where} sent {self._empty_run} empty pages of {self.path} in a row, each saying more follow: "
                "its paging never ends, so the listing was stopped.")
        if self.total is not None and self.received > self.total + self.page_size:
            raise BadResponseError(
                f"{self.where} sent more records of {self.path} ({self.received:,}) than it said it holds "
                f"({self.total:,}): its paging is broken, so the listing was stopped.")

    @property
    def complete(self) -> bool:
        """Every record the console said it holds has arrived: stop, whatever the page says about more."""
        return self.total is not None and self.received >= self.total


@functools.cache
def _id_fields(kind: type[msgspec.Struct], keys: tuple[str, ...]) -> list[Callable[[Any], Any]]:
    """Readers of the fields of struct type `kind` that the JSON names `keys` decode into, in their order."""
    names = {field.encode_name: field.name for field in msgspec.structs.fields(kind)}
    return [operator.attrgetter(names[key]) for key in keys if key in names]


async def ordered_pages(
    fetch: Callable[[int], Awaitable[T]], indexes: Iterable[int], concurrency: int
) -> AsyncGenerator[T, None]:
    """Fetch the pages `indexes` with at most `concurrency` requests in flight; yield them in order.

    For APIs with random access to pages (SEPM pageIndex, EPMM offset): the caller fetches the first
    page, learns the total, then hands the rest here. A request that finishes frees its place at once, not
    when its page's turn comes: the next one is sent while the pages before it are still awaited or mapped
    by the caller, so one slow page (or the caller's CPU) does not leave the other places idle. At most twice
    `concurrency` pages are held, in flight or waiting for their turn. A failure cancels the pages still in
    flight.
    """
    pending = iter(indexes)
    window: deque[asyncio.Task[T]] = deque()
    stopped = False

    def top_up(_: object = None) -> None:
        while not stopped and len(window) < 2 * concurrency and sum(not task.done() for task in window) < concurrency:
            index = next(pending, None)
            if index is None:
                return
            task = asyncio.ensure_future(fetch(index))
            task.add_done_callback(top_up)
            window.append(task)

    try:
        top_up()
        while window:
            page = await window[0]  # left in the window while awaited: it still holds its place
            window.popleft()
            top_up()
            yield page
    finally:
        stopped = True
        for task in window:
            task.cancel()
        if window:
            await asyncio.gather(*window, return_exceptions=True)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def requested_action(client: ResponseActions, action: str, message: str, count: int) -> ResponseAction:
    """The action asked for, checked before anything is sent: offered by this console, a message where it
    needs one and not longer than consoles take, at least one device."""
    spec = ACTIONS.get(action)
    if spec is None or action not in client.offered_actions():
        offered = ", ".join(client.offered_actions())
        raise ValueError(f"This console cannot {spec.verb if spec else action}; it offers: {offered}.")
    if spec.message == "required" and not message.strip():
        raise ValueError(f"To {spec.verb} a device, give the message its user will see.")
    if message and not spec.message:
        raise ValueError(f"{spec.title} shows no message on the device; leave the message out.")
    if len(message) > MESSAGE_MAX:
        raise ValueError(f"The message has {len(message)} characters; consoles take at most {MESSAGE_MAX}.")
    if count == 0:
        raise ValueError("Choose at least one device.")
    return spec


async def respond_in_calls(
    devices: Sequence[Device], size: int, send: Callable[[Sequence[Device]], Awaitable[list[ActionResult]]]
) -> list[ActionResult]:
    """`send` the devices `size` at a time (a console's target limit) and gather one result per device.

    A failure of the first call that shows nothing was done (credentials, a missing write right, a read-only
    connection) is raised as it is. Any later failure, or one that may have acted, refuses that call's devices
    with the failure in words and the rest as not sent, so what was already sent is still reported and logged.
    """
    results: list[ActionResult] = []
    calls = list(chunks(devices, size))
    for number, chunk in enumerate(calls):
        try:
            results.extend(await send(chunk))
        except VendorError as error:
            if number == 0 and isinstance(error, (AuthenticationError, ForbiddenError, WriteRefusedError)):
                raise
            results.extend(refused([(device.id, device.name) for device in chunk], str(error)))
            later = [device for rest in calls[number + 1:] for device in rest]
            results.extend(refused([(device.id, device.name) for device in later],
                                   "not sent: the console failed on an earlier call"))
            break
    return results
