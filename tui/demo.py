"""`epx --demo`: simulated consoles served in-process, and profiles that point at them.

Nothing touches the network or the user's config: each demo connection gets an `httpx.ASGITransport`
onto its simulator, and the config has no path, so it is never saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx

from tui.config import Config
from tui.models import Connection
from tui.simulators.sepm import DEMO_PASSWORD, DEMO_USERNAME, SepmFleet, SepmSimulator, create_app


@dataclass(slots=True)
class Demo:
    config: Config
    transports: dict[str, httpx.AsyncBaseTransport]


def build_demo(size: int = 500, *, seed: int = 7, now: datetime | None = None) -> Demo:
    """One demo connection per simulated vendor; `now` pins the fleet's clock for snapshots."""
    sepm = Connection(
        name="demo-sepm",
        vendor="sepm",
        url="https://sepm.demo.invalid:8446",
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
    )
    sepm_app = create_app(SepmSimulator(SepmFleet(size=size, seed=seed, now=now)))
    return Demo(
        config=Config(path=None, connections={sepm.name: sepm}),
        transports={sepm.name: httpx.ASGITransport(app=sepm_app)},
    )
