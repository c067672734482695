"""Coverage across consoles: which machines each console sees, and which it does not (a workstation with an
SEPM agent but no Elements agent is a blind spot).

Matching rules (README "Coverage"): devices of different connections are one machine when their host names
are equal once normalised: case ignored, and a domain suffix dropped ("WS-ENG-001.corp.example" is
"ws-eng-001"); a name that is an IP address is kept whole. None of the three vendor mappings gives a MAC
address yet, so machines are matched by name only. Limits: a host renamed on one console and not yet on
another is two machines; two machines that share a short name in different domains are one (flagged
`shared_name` when one console lists the name more than once); a device without a name is a machine of its
own. Non-UI core: no textual import.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from tui.models import Device

COVERAGE_FIELDS = ["machine", "consoles", "missing", "seen_by", "shared_name", "devices"]
"""A machine record (README "Coverage"); in CSV the lists are joined with spaces."""


def host_key(name: str) -> str:
    """The name two consoles' records of one machine share: case-folded, without a domain suffix."""
    folded = name.strip().casefold()
    if "." not in folded:
        return folded
    if folded[0].isdigit() or ":" in folded:
        try:
            ipaddress.ip_address(folded)
            return folded
        except ValueError:
            pass
    return folded.split(".", 1)[0]


@dataclass(slots=True)
class Machine:
    """One machine as the consoles see it: per connection, its devices there (usually one)."""

    key: str
    name: str
    seen: dict[str, list[Device]] = field(default_factory=dict)

    @property
    def consoles(self) -> list[str]:
        return sorted(self.seen)

    @property
    def shared_name(self) -> bool:
        """One console lists the name more than once: two machines may hide behind one name."""
        return any(len(devices) > 1 for devices in self.seen.values())

    def missing(self, connections: Sequence[str]) -> list[str]:
        return [name for name in connections if name not in self.seen]

    def to_json(self, connections: Sequence[str]) -> dict[str, Any]:
        return {"machine": self.name, "consoles": self.consoles, "missing": self.missing(connections),
                "seen_by": len(self.seen), "shared_name": self.shared_name,
                "devices": {name: [device.id for device in devices] for name, devices in sorted(self.seen.items())}}


def match_machines(devices: Iterable[Device]) -> list[Machine]:
    """The machines behind these devices (of several connections), sorted by name."""
    machines: dict[str, Machine] = {}
    keys: dict[str, str] = {}  # consoles share most names: each is normalised once
    for device in devices:
        name = device.name
        key = keys.get(name)
        if key is None:
            key = keys[name] = host_key(name)
        if not key:
            key = f"\0{device.connection}\0{device.id}"  # no name: a machine of its own
        machine = machines.get(key)
        if machine is None:
            machine = machines[key] = Machine(key, name or f"(no name: {device.id})", {device.connection: [device]})
            continue
        found = machine.seen.get(device.connection)
        if found is None:
            machine.seen[device.connection] = [device]
        else:
            found.append(device)
    return sorted(machines.values(), key=attrgetter("key"))  # keys are unique: one machine each


@dataclass(frozen=True, slots=True)
class CoverageFilter:
    """Which machines to list: all, those one console alone sees, those missing from a connection."""

    only_one: bool = False
    missing_from: str = ""

    def matches(self, machine: Machine) -> bool:
        if self.only_one and len(machine.seen) != 1:
            return False
        return not self.missing_from or self.missing_from not in machine.seen

    def apply(self, machines: Iterable[Machine]) -> list[Machine]:
        return [machine for machine in machines if self.matches(machine)]
