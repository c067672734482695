"""Benchmark: the concurrent pager against the sequential one, in the same run, over loopback.

Each simulator runs in its own process (as a console runs on its own machine) with 50 ms of added
latency on every request. It answers repeated pages from memory (`--cache-pages`, warmed by one
untimed listing), so that what is measured is the client's pager against the latency, not the
simulator's own CPU on the same two cores. The client lists 100,000 devices once one page at a time
and once with the concurrent pager. Prints both times and their ratio, and how far the concurrent pager is from
its bound (issue 16): max(pages x latency / concurrency, the client's own CPU for those pages), the CPU measured
in this process (the simulator's is in its own), and how long this process waited for a core (on a machine
shared with other work, wall time the bound does not count). Not a timed test: run it by hand,

    .venv/bin/python tests/bench/bench_paging.py [--size 100000] [--latency 50] [--vendors sepm,epmm,elements]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from tui.models import Connection
from tui.simulators import SIMULATED_VENDORS, build_simulator
from tui.vendors import open_client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_wait_seconds() -> float:
    """The time the listing thread (this one, the event loop's) has spent ready to run but waiting for a core
    (the run queue delay of /proc/thread-self/schedstat): on a machine shared with other work, the part of a
    wall time that is neither latency nor this process's own CPU."""
    return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process `pid` has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def simulator_process(vendor: str, size: int, latency_ms: int):
    """`epx simulate VENDOR` in a child process; yields its URL and process id once it accepts connections."""
    port = free_port()
    epx = Path(sys.executable).parent / "epx"
    child = subprocess.Popen(
        [str(epx), "simulate", vendor, "--port", str(port), "--size", str(size), "--fault", f"latency={latency_ms}",
         "--cache-pages"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError(f"the {vendor} simulator did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", child.pid
    finally:
        child.terminate()
        child.wait(10)


async def list_devices(vendor: str, url: str, concurrency: int) -> tuple[float, int, int, float, float]:
    """Seconds to list every device, the device count, the number of pages, the client's CPU seconds and the
    seconds it waited for a core."""
    credentials = build_simulator(vendor, size=1)
    connection = Connection(name="bench", vendor=vendor, url=url, username=credentials.username, allow_http=True)
    client = open_client(connection, credentials.password, page_concurrency=concurrency)
    try:
        await client.check_login()
        started, cpu, waited = time.perf_counter(), time.process_time(), cpu_wait_seconds()
        devices = pages = 0
        async for page in client.devices():
            devices += len(page.devices)
            pages += 1
        return (time.perf_counter() - started, devices, pages, time.process_time() - cpu,
                cpu_wait_seconds() - waited)
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--latency", type=int, default=50, help="milliseconds added to every request")
    parser.add_argument("--vendors", default=",".join(SIMULATED_VENDORS))
    parser.add_argument("--concurrency", default="4,8", help="concurrent pager settings to measure")
    args = parser.parse_args()
    print(f"{args.size:,} devices, {args.latency} ms added latency per request")
    for vendor in args.vendors.split(","):
        with simulator_process(vendor, args.size, args.latency) as (url, simulator):
            asyncio.run(list_devices(vendor, url, 1))  # warms the simulator's page cache; not timed
            sequential, count, pages, _, waited = asyncio.run(list_devices(vendor, url, 1))
            print(f"{vendor:9} sequential pager    {sequential:7.2f} s  ({count:,} devices, {pages} pages)"
                  f"  waited for a core {waited:5.2f} s")
            bound = pages * args.latency / 1000
            if vendor == "elements":
                print(f"{vendor:9} sequential bound    {bound:7.2f} s  (pages x latency)  ratio {sequential / bound:.2f}x")
                continue
            for concurrency in map(int, args.concurrency.split(",")):
                served = cpu_seconds(simulator)
                concurrent, count, _, cpu, waited = asyncio.run(list_devices(vendor, url, concurrency))
                served = cpu_seconds(simulator) - served
                bound = max(pages * args.latency / 1000 / concurrency, cpu)
                print(f"{vendor:9} concurrent pager ({concurrency}) {concurrent:7.2f} s  ({count:,} devices)"
                      f"  speed-up {sequential / concurrent:.2f}x  client CPU {cpu:5.2f} s"
                      f"  bound {bound:5.2f} s  ratio {concurrent / bound:.2f}x  (simulator CPU {served:5.2f} s)"
                      f"  waited for a core {waited:5.2f} s, ratio without the wait {(concurrent - waited) / bound:.2f}x")


if __name__ == "__main__":
    main()
