"""What changed in a fleet between two loads: the questions of an incident's first minutes, answered from
snapshots (or a snapshot and the live load) without a console.

A device is the same device in both when its connection and console id are equal; a device a console
re-enrolled under a new id is one that disappeared and one that appeared. Non-UI core: no textual import.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
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


@dataclass(slots=True)
class FleetFacts:
    """What changes compare of each device of a fleet, as parallel columns: built from devices, or read back
    from a snapshot without making its devices (the fast way to compare two 100,000-device snapshots)."""

    keys: list[tuple[str, str]]
    """(connection, console id) of each device."""
    names: list[str]
    groups: list[str]
    health: list[Health]
    missing: list[bool | None]
    online: list[bool | None]

    @classmethod
    def of(cls, devices: Sequence[Device]) -> FleetFacts:
        return cls([(device.connection, device.id) for device in devices], [device.name for device in devices],
                   [device.group for device in devices], [device.health for device in devices],
                   [device.missing_critical_patches for device in devices], [device.online for device in devices])


def _online_word(online: bool | None) -> str:
    return {True: "online", False: "offline", None: "unknown"}[online]


def changes_between(before: Sequence[Device], after: Sequence[Device]) -> list[Change]:
    """Every change from the fleet `before` to the fleet `after`, most urgent kind first, then by name."""
    return changes_of(FleetFacts.of(before), FleetFacts.of(after), before.__getitem__, after.__getitem__)


def changes_of(before: FleetFacts, after: FleetFacts, device_before: Callable[[int], Device],
               device_after: Callable[[int], Device]) -> list[Change]:
    """`changes_between` over facts; a change's device is made (`device_before(index)`, `device_after(index)`)
    only for the devices that changed."""
    old = {key: index for index, key in enumerate(before.keys)}
    found: list[Change] = []
    critical, missing = Health.CRITICAL, True
    for index, key in enumerate(after.keys):
        was = old.pop(key, None)
        if was is None:
            found.append(Change(ChangeKind.APPEARED, device_after(index), after=after.groups[index]))
            continue
        health, patches, online, group = after.health[index], after.missing[index], after.online[index], \
            after.groups[index]
        if health is not critical and patches is not missing and online is True and group == before.groups[was]:
            continue  # the common case, decided at once
        device: Device | None = None
        if health is critical and before.health[was] is not critical:
            device = device or device_after(index)
            found.append(Change(ChangeKind.CRITICAL, device, before.health[was].value, health.value))
        if patches is missing and before.missing[was] is not missing:
            device = device or device_after(index)
            found.append(Change(ChangeKind.MISSING_PATCH, device, "no" if before.missing[was] is False
                                else "unknown", "yes"))
        if before.online[was] is True and online is not True:
            device = device or device_after(index)
            found.append(Change(ChangeKind.OFFLINE, device, "online", _online_word(online)))
        if group != before.groups[was]:
            device = device or device_after(index)
            found.append(Change(ChangeKind.MOVED, device, before.groups[was], group))
    found.extend(Change(ChangeKind.DISAPPEARED, device_before(index), before=before.groups[index])
                 for index in old.values())
    found.sort(key=lambda change: (CHANGE_ORDER[change.kind], change.device.name.casefold(), change.device.id))
    return found
