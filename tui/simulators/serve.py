"""Serve an ASGI app with uvicorn on loopback, over plain HTTP or TLS.

`ServerThread` runs a simulator in the background for tests and for `epx --demo`; `serve_forever` runs one
in the foreground for `epx simulate`.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 10.0


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for the server: its certificate chain (leaf first) and its private key."""

    cert_chain: Path
    key: Path


def _config(app: ASGIApp, tls: TlsFiles | None, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="off",
        server_header=False,  # a real SEPM does not announce uvicorn
        ssl_certfile=str(tls.cert_chain) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
        **options,
    )


class ServerThread:
    """uvicorn serving `app` in a daemon thread, as a context manager.

    The listening socket is bound here, before the thread starts, so a busy port fails in the caller
    and `port=0` yields the chosen port at once; `__enter__` returns when the server accepts connections.
    """

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, tls: TlsFiles | None = None) -> None:
        self._host = host
        self._port = port
        self._server = uvicorn.Server(_config(app, tls, log_level="warning", access_log=False,
                                              timeout_graceful_shutdown=2))
        self._scheme = "https" if tls else "http"
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def __enter__(self) -> ServerThread:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._socket = socket.create_server((self._host, self._port), family=family)
        port = self._socket.getsockname()[1]
        host = f"[{self._host}]" if family == socket.AF_INET6 else self._host
        self.url = f"{self._scheme}://{host}:{port}"
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"uvicorn {self.url}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the server at {self.url} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT)
        if self._socket is not None:
            self._socket.close()


def serve_forever(app: ASGIApp, *, host: str, port: int, tls: TlsFiles | None = None) -> None:
    """Serve in the foreground until interrupted (Ctrl-C), logging each request."""
    uvicorn.Server(_config(app, tls, host=host, port=port, log_level="info")).run()


def make_test_tls(host: str, directory: Path | None = None) -> tuple[TlsFiles, Path]:
    """A throw-away CA and a server certificate for `host`; returns the server's files and the CA's PEM.

    trustme builds real X.509 certificates, so a client verifies the simulator exactly as it would a
    console whose certificate comes from a corporate CA (point `verify` at the returned PEM).
    """
    folder = directory or Path(tempfile.mkdtemp(prefix="epx-sim-tls-"))
    authority = trustme.CA()
    leaf = authority.issue_cert(host, "localhost", "127.0.0.1")
    tls = TlsFiles(cert_chain=folder / "server.pem", key=folder / "server-key.pem")
    leaf.private_key_pem.write_to_path(str(tls.key))
    leaf.cert_chain_pems[0].write_to_path(str(tls.cert_chain))
    for extra in leaf.cert_chain_pems[1:]:
        extra.write_to_path(str(tls.cert_chain), append=True)
    ca_path = folder / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_path))
    return tls, ca_path
