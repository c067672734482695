"""What changed in a fleet between two loads: the questions of an incident's first minutes, answered from
snapshots (or a snapshot and the live load) without a console.

A device is the same device in both when its connection and console id are equal; a device a console
re-enrolled under a new id is one that disappeared and one that appeared. Non-UI core: no textual import.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tui.models import Device, Health


class ChangeKind(enum.Enum):
    """What happened to a device, most urgent first (the order changes are listed in)."""

    CRITICAL = "became critical"
    MISSING_PATCH = "now misses critical patches"
    APPEARED = "appeared"
    DISAPPEARED = "disappeared"
    OFFLINE = "went offline"
    MOVED = "moved group"

    @property
    def key(self) -> str:
        """The word scripts filter on: "critical", "missing_patch", "appeared", ..."""
        return self.name.lower()


CHANGE_ORDER = {kind: rank for rank, kind in enumerate(ChangeKind)}
CHANGE_FIELDS = ["change", "connection", "id", "name", "before", "after", "group", "health"]
"""A change record (README "Changes"); CSV has the same columns."""


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that changed on one device; `device` is the device as it is now (as it was, when it
    disappeared), so a row opens it."""

    kind: ChangeKind
    device: Device
    before: str = ""
    after: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"change": self.kind.key, "connection": self.device.connection, "id": self.device.id,
                "name": self.device.name, "before": self.before or None, "after": self.after or None,
                "group": self.device.group, "health": self.device.health.value}


def _online_word(online: bool | None) -> str:
    return {True: "online", False: "offline", None: "unknown"}[online]


def changes_between(before: Iterable[Device], after: Iterable[Device]) -> list[Change]:
    """Every change from the fleet `before` to the fleet `after`, most urgent kind first, then by name."""
    old = {(device.connection, device.id): device for device in before}
    found: list[Change] = []
    seen: set[tuple[str, str]] = set()
    for device in after:
        key = (device.connection, device.id)
        seen.add(key)
        was = old.get(key)
        if was is None:
            found.append(Change(ChangeKind.APPEARED, device, after=device.group))
            continue
        if device.health is Health.CRITICAL and was.health is not Health.CRITICAL:
            found.append(Change(ChangeKind.CRITICAL, device, was.health.value, device.health.value))
        if device.missing_critical_patches is True and was.missing_critical_patches is not True:
            found.append(Change(ChangeKind.MISSING_PATCH, device, "no" if was.missing_critical_patches is False
                                else "unknown", "yes"))
        if was.online is True and device.online is not True:
            found.append(Change(ChangeKind.OFFLINE, device, "online", _online_word(device.online)))
        if device.group != was.group:
            found.append(Change(ChangeKind.MOVED, device, was.group, device.group))
    found.extend(Change(ChangeKind.DISAPPEARED, device, before=device.group)
                 for key, device in old.items() if key not in seen)
    found.sort(key=lambda change: (CHANGE_ORDER[change.kind], change.device.name.casefold(), change.device.id))
    return found
