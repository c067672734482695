"""A simulated console in a child process, served over plain HTTP on loopback, for as long as its parent lives.

A large demo fleet is generated as its pages are asked for: a hundred thousand SEPM records are seconds of CPU.
In the app's own process they took turns with the client's decoding, the inventory and the screen; in a child
they run on the other core, as a real console runs on its own machine.

The child writes one JSON line once it accepts connections (its URL, and the SEPM fingerprint lists a user
would have opened) and serves until its standard input closes: the parent closing it, or dying, ends it.
"""

from __future__ import annotations

import argparse
import json
import select
import subprocess
import sys
from dataclasses import dataclass
from typing import IO, Any

import httpx

START_TIMEOUT = 30.0
"""Seconds for a child to import, build its fleet and listen: far more than the second it takes."""


@dataclass
class SimulatorProcess:
    """The parent's side: the child, the URL it serves and the fingerprint list records it started with."""

    child: subprocess.Popen[bytes]
    url: str
    lists: list[dict[str, Any]]

    @classmethod
    def start(cls, vendor: str, *, size: int, seed: int) -> SimulatorProcess:
        """Start a child and wait until it listens; raises RuntimeError when it does not say so in time."""
        child = subprocess.Popen(
            [sys.executable, "-m", "tui.simulators.process", vendor, "--size", str(size), "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True)  # the terminal's signals (a hang-up, ctrl+z) are the app's to handle
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], START_TIMEOUT)
        line = child.stdout.readline() if ready else b""
        try:
            started = json.loads(line)
        except ValueError:
            started = None
        if not isinstance(started, dict) or not isinstance(started.get("url"), str):
            cls(child, "", []).stop()
            raise RuntimeError(f"the simulated {vendor} console did not start")
        return cls(child, started["url"], started.get("lists", []))

    def transport(self) -> httpx.AsyncBaseTransport:
        """What the demo's client talks to the child through: its requests, sent to the child's address."""
        return _Forwarding(httpx.URL(self.url))

    def stop(self) -> None:
        """End the child: its standard input closes, it stops serving; killed if it has not within seconds."""
        if self.child.stdin is not None:
            self.child.stdin.close()
        try:
            self.child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        if self.child.stdout is not None:
            self.child.stdout.close()


class _Forwarding(httpx.AsyncBaseTransport):
    """Plain HTTP to the child for requests addressed to the demo console's URL (its Host header kept).

    Closing it is left to the process's end: the connection test closes its throw-away client's transport,
    and the same transport serves the connection's next client."""

    def __init__(self, url: httpx.URL) -> None:
        self._url = url
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme=self._url.scheme, host=self._url.host, port=self._url.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Kept open (see the class)."""


def serve_until_closed(vendor: str, size: int, seed: int, control: IO[bytes], out: IO[str]) -> None:
    """Serve the simulated console on a free loopback port, say where on `out`, until `control` closes."""
    from tui.simulators import build_simulator
    from tui.simulators.serve import ServerThread

    simulated = build_simulator(vendor, size=size, seed=seed)
    with ServerThread(simulated.app) as server:
        out.write(json.dumps({"url": server.url, "lists": simulated.fingerprint_lists}) + "\n")
        out.flush()
        while control.read(4096):
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tui.simulators.process", description=__doc__.splitlines()[0])
    parser.add_argument("vendor")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    serve_until_closed(args.vendor, args.size, args.seed, sys.stdin.buffer, sys.stdout)


if __name__ == "__main__":
    main()
