"""Fault injection shared by every simulator: what real consoles and networks do to a client.

A `FaultPlan` holds the faults of a run (`epx simulate --fault latency=50`) and of single requests
(tests call `plan.add("500")`, or send the header `x-sim-fault: 429=7`). `FaultInjector` is the ASGI
middleware that applies them in front of a simulator.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FAULTS = {
    "latency": "delay the answer by VALUE milliseconds",
    "500": "answer 500 with a JSON error body",
    "html": "answer 502 with an HTML error page, as a proxy in front of the console does",
    "429": "answer 429 with Retry-After: VALUE seconds (default 1)",
    "expire-token": "invalidate every issued token before the request is handled",
    "malformed": "answer 200 with a body that is not JSON",
    "truncated": "answer 200 with the real JSON body cut in half",
    "reset": "start the answer, then drop the connection",
    "slow-body": "send the real body in small pieces over VALUE seconds (default 2)",
}
FAULT_HEADER = "x-sim-fault"

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class FaultError(ValueError):
    """A fault spec that names no known fault or has a bad value."""


@dataclass
class Fault:
    """One fault; `path` limits it to paths starting with it, `times` to that many requests (None: all)."""

    kind: str
    value: float | None = None
    path: str = ""
    times: int | None = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULTS:
            raise FaultError(f"unknown fault {self.kind!r} (known: {', '.join(FAULTS)})")


def parse_fault(spec: str, *, times: int | None = None) -> Fault:
    """"latency=50", "429=7", "500" or "500@/sepm/api/v1/computers" (only that path)."""
    spec, _, path = spec.partition("@")
    kind, _, value = spec.partition("=")
    try:
        number = float(value) if value else None
    except ValueError:
        raise FaultError(f"fault {kind!r} needs a number, not {value!r}") from None
    return Fault(kind.strip(), number, path.strip(), times)


class FaultPlan:
    """The faults still to apply; safe to change from a test thread while a server thread reads it."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.cached_answers: dict[tuple[str, bytes], tuple[dict[str, Any], bytes]] | None = None
        """When a dict: successful GET answers kept by path and query, and served again from memory
        (`epx simulate --cache-pages`, for benchmarks, so the simulator's own CPU does not pose as
        console latency). A cached answer skips the credential check: never use it to test auth."""

    def add(self, kind: str, *, value: float | None = None, path: str = "", times: int | None = 1) -> None:
        with self._lock:
            self._faults.append(Fault(kind, value, path, times))

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> list[Fault]:
        """The faults that apply to a request for `path`, counting each use."""
        with self._lock:
            chosen = [fault for fault in self._faults if path.startswith(fault.path)]
            for fault in chosen:
                if fault.times is not None:
                    fault.times -= 1
            self._faults = [fault for fault in self._faults if fault.times is None or fault.times > 0]
            return chosen


class FaultInjector:
    """ASGI middleware: applies the plan's faults (and a request's `x-sim-fault` header) to each request."""

    def __init__(self, app: Callable[..., Any], plan: FaultPlan, expire_tokens: Callable[[], None] | None = None,
                 error_body: Callable[[Scope, int, str], bytes] | None = None):
        self.app = app
        self.plan = plan
        self.expire_tokens = expire_tokens
        self.error_body = error_body
        """The simulated API's own JSON error body for a canned 429 or 500 (scope, status, message); None: a
        generic one."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        faults = self.plan.take(scope["path"])
        header = dict(scope.get("headers") or []).get(FAULT_HEADER.encode())
        if header:
            faults.append(parse_fault(header.decode("latin-1")))
        for fault in faults:
            if fault.kind == "latency":
                await asyncio.sleep((fault.value or 0) / 1000)
            elif fault.kind == "expire-token" and self.expire_tokens is not None:
                self.expire_tokens()
        answer = next((fault for fault in faults if fault.kind not in ("latency", "expire-token")), None)
        if answer is None and self.plan.cached_answers is not None and scope["method"] == "GET":
            await self._from_cache(self.plan.cached_answers, scope, receive, send)
        elif answer is None:
            await self.app(scope, receive, send)
        elif answer.kind in ("500", "html", "429", "malformed"):
            await _canned(answer, send, scope, self.error_body)
        else:
            await self._mangle(answer, scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[dict[str, Any], bytes]:
        """Run the real app and collect its whole answer: the start message and the body."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        return start, b"".join(chunks)

    async def _from_cache(self, cache: dict[tuple[str, bytes], tuple[dict[str, Any], bytes]], scope: Scope,
                          receive: Receive, send: Send) -> None:
        key = (scope["path"], scope.get("query_string", b""))
        if key in cache:
            start, body = cache[key]
        else:
            start, body = await self._answer(scope, receive)
            if start.get("status") == 200:
                cache[key] = (start, body)
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def _mangle(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the real app, then deliver its answer cut, dropped or slowly."""
        start, body = await self._answer(scope, receive)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if fault.kind == "truncated":
            body = body[: len(body) // 2]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        elif fault.kind == "reset":
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body[: len(body) // 3], "more_body": True})
            raise ConnectionResetError("simulated connection reset")
        else:  # slow-body
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            pieces = 8
            step = max(1, len(body) // pieces)
            for offset in range(0, len(body), step):
                await asyncio.sleep((fault.value or 2.0) / pieces)
                await send({"type": "http.response.body", "body": body[offset : offset + step], "more_body": True})
            await send({"type": "http.response.body", "body": b""})


async def _canned(fault: Fault, send: Send, scope: Scope | None = None,
                  error_body: Callable[[Scope, int, str], bytes] | None = None) -> None:
    """A whole answer that never reaches the simulated API (a 429 or 500 in its error shape, if it has one)."""
    if fault.kind == "html":
        status, content_type = 502, b"text/html; charset=utf-8"
        body = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
    elif fault.kind == "malformed":
        status, content_type = 200, b"application/json"
        body = b'{"content": [ {"id": oops'
    elif fault.kind == "429":
        status, content_type = 429, b"application/json"
        body = (error_body(scope or {}, 429, "Too many requests") if error_body is not None
                else json.dumps({"errorCode": "429", "errorMessage": "Too many requests"}).encode())
    else:
        status, content_type = 500, b"application/json"
        body = (error_body(scope or {}, 500, "Simulated internal server error") if error_body is not None
                else json.dumps({"errorCode": "500", "errorMessage": "Simulated internal server error"}).encode())
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if fault.kind == "429":
        headers.append((b"retry-after", f"{fault.value if fault.value is not None else 1:g}".encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
