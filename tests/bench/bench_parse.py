"""Benchmark: the client's CPU per device page, per vendor (issue 16, item 2).

The pages of a simulated fleet are recorded once from the in-process simulator, then the client lists them
again from a transport that replays the recorded bodies, so all the CPU measured is the client's: the HTTP
plumbing, decoding the JSON, mapping records to Devices and keeping the raw page (`RawPage`). Prints, per vendor,
the process CPU per page (every thread: the compressor's too) and the listing thread's alone. Not a timed test:
run it by hand,

    .venv/bin/python tests/bench/bench_parse.py [--size 20000] [--vendors sepm,epmm,elements] [--profile sepm]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from datetime import UTC, datetime

import httpx

from tui.models import Connection
from tui.simulators import SIMULATED_VENDORS, build_simulator
from tui.vendors import open_client

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def recording_transport(vendor: str, size: int) -> tuple[httpx.AsyncBaseTransport, dict[str, httpx.Response], str]:
    """A transport to the in-process simulator that keeps every answer by request, and the password."""
    simulated = build_simulator(vendor, size=size, now=NOW)
    inner = httpx.ASGITransport(app=simulated.app)
    recorded: dict[str, httpx.Response] = {}

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            body = await response.aread()
            recorded[f"{request.method} {request.url}"] = httpx.Response(
                response.status_code, headers=response.headers, content=body)
            return httpx.Response(response.status_code, headers=response.headers, content=body)

    return Recording(), recorded, simulated.password


class Replaying(httpx.AsyncBaseTransport):
    """Answers every request from the recording: no server CPU in the measured process."""

    def __init__(self, recorded: dict[str, httpx.Response]) -> None:
        self.recorded = recorded

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kept = self.recorded[f"{request.method} {request.url}"]
        return httpx.Response(kept.status_code, headers=kept.headers, content=kept.content)


async def listing(vendor: str, transport: httpx.AsyncBaseTransport, password: str, username: str) -> int:
    """Pages of one full device listing."""
    connection = Connection(name="bench", vendor=vendor, url="http://console.test", username=username,
                            allow_http=True)
    client = open_client(connection, password, transport=transport, clock=lambda: NOW)
    try:
        await client.check_login()
        await client.groups()
        pages = 0
        async for page in client.devices():
            pages += 1
            assert page.devices or page.skipped
        return pages
    finally:
        await client.aclose()


def measure(vendor: str, size: int, rounds: int, profile: bool) -> None:
    recorder, recorded, password = recording_transport(vendor, size)
    username = build_simulator(vendor, size=1).username
    asyncio.run(listing(vendor, recorder, password, username))
    replay = Replaying(recorded)
    asyncio.run(listing(vendor, replay, password, username))  # warm: imports, caches
    body = max(len(response.content) for response in recorded.values())
    best_process = best_thread = float("inf")
    pages = 0
    for _ in range(rounds):
        process, thread = time.process_time(), time.thread_time()
        pages = asyncio.run(listing(vendor, replay, password, username))
        best_process = min(best_process, (time.process_time() - process) / pages)
        best_thread = min(best_thread, (time.thread_time() - thread) / pages)
    print(f"{vendor:9} {pages:4} pages of up to {body / 1e6:4.2f} MB: CPU per page {best_process * 1000:6.2f} ms "
          f"(listing thread {best_thread * 1000:6.2f} ms)")
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(listing(vendor, replay, password, username))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vendors", default=",".join(SIMULATED_VENDORS))
    parser.add_argument("--profile", default="", help="vendors to profile (cProfile, by own time)")
    args = parser.parse_args()
    for vendor in args.vendors.split(","):
        measure(vendor, args.size, args.rounds, vendor in args.profile.split(","))


if __name__ == "__main__":
    main()
