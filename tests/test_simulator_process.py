"""A demo console in a child process (tui/simulators/process.py): it serves the demo connection's requests
over loopback, tells the SEPM fingerprint lists it starts with, and ends when its parent closes it or dies."""

from __future__ import annotations

import os
import select
import subprocess
import sys

import httpx
import pytest

from tui.demo import DEMO_URLS, DemoTransports, demo_config
from tui.simulators.process import SimulatorProcess
from tui.simulators.sepm import DEMO_BLOCKLIST_NAME
from tui.snapshots import SnapshotStore
from tui.state import StateStore
from tui.vendors import open_client


async def test_the_demo_without_a_past_serves_each_console_from_its_own_child() -> None:
    config = demo_config()
    state = StateStore(None)
    demo = DemoTransports(config, state, SnapshotStore(None), size=40, history=False)
    try:
        connection = config.connections["demo-sepm"]
        client = open_client(connection, connection.password, transport=demo["demo-sepm"])
        try:
            devices = [device async for page in client.devices() for device in page.devices]
        finally:
            await client.aclose()
        assert len(devices) == 40
        assert len(demo._processes) == 1  # only the console opened
        known = state.known_lists("demo-sepm")
        assert DEMO_BLOCKLIST_NAME in {remembered.name for remembered in known}
        child = demo._processes[0].child
    finally:
        demo.close()
    assert child.returncode is not None and not demo._processes


async def test_requests_keep_the_demo_url_in_their_host_header() -> None:
    served = SimulatorProcess.start("epmm", size=5, seed=3)
    try:
        async with httpx.AsyncClient(transport=served.transport()) as client:
            answer = await client.get(f"{DEMO_URLS['epmm']}/api/v2/devices")
        assert answer.status_code == 401  # the simulator answered: no credentials given
        assert answer.request.headers["host"] == "epmm.demo.invalid"
    finally:
        served.stop()


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="waits on a pidfd (Linux)")
def test_the_child_ends_when_its_parent_does() -> None:
    """The parent dies without a word (SIGKILL): the child's standard input closes, and it stops serving."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from tui.simulators.process import SimulatorProcess\n"
         "served = SimulatorProcess.start('sepm', size=5, seed=1)\n"
         "print(served.child.pid, served.url, flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid, url = parent.stdout.readline().split()
    assert httpx.get(f"{url}/sepm/api/v1/version").status_code == 200
    exited = os.pidfd_open(int(pid))  # readable once the child has exited
    parent.kill()
    parent.wait()
    ready, _, _ = select.select([exited], [], [], 20)
    os.close(exited)
    assert ready, "the child outlived its parent"


def test_a_child_that_cannot_start_is_said_in_words() -> None:
    with pytest.raises(RuntimeError, match="the simulated nosuch console did not start"):
        SimulatorProcess.start("nosuch", size=5, seed=1)
