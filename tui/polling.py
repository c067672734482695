"""How a screen that polls says where it stands: "polled 3 s ago · next in 7 s", so it never looks frozen.

Textual-free: the command screen and the event timeline's live tail both use it, with the app's clock."""

from __future__ import annotations

import math
from datetime import datetime


def poll_words(now: datetime, polled_at: datetime | None, every: float, *, waiting_since: datetime | None = None) -> str:
    """"polled 3 s ago · next in 7 s" when the next poll comes `every` seconds after the last one.

    Before the first poll: "first poll in 7 s" counted from `waiting_since`, else "first poll…"."""
    if polled_at is None:
        if waiting_since is None:
            return "first poll…"
        return f"first poll in {_left(now, waiting_since, every)} s"
    ago = max(0, int((now - polled_at).total_seconds()))
    return f"polled {ago} s ago · next in {_left(now, polled_at, every)} s"


def _left(now: datetime, since: datetime, every: float) -> int:
    return max(0, math.ceil(every) - max(0, int((now - since).total_seconds())))
