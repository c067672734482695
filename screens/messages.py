"""The messages the screens' workers post, as dataclasses: one place to read what a background load says.

Each carries the `generation` of the load it belongs to; a screen drops the words of a load it cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui.fleet_load import Step


@dataclass
class ConsoleStep(Message):
    """A step of one console's load: its server info, its groups, or a page of devices."""

    generation: int
    connection: str
    step: Step


@dataclass
class LabelsLoaded(Message):
    """Every member of these labels (EPMM) has arrived: their counts come from the inventory from now on."""

    generation: int
    connection: str
    group_ids: list[str]


@dataclass
class ConsoleWaiting(Message):
    """A console's client pauses (a rate limit, a retry) and says why; None when it goes on."""

    generation: int
    connection: str
    reason: str | None
