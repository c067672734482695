"""Filtering loaded devices without Textual: the same meaning for the CLI flags and the UI keys."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tui.models import Device, Health


def split_group_path(text: str) -> tuple[str, ...]:
    """A group path typed by a user: levels separated by backslashes (SEPM style) or slashes."""
    return tuple(part.strip() for part in re.split(r"[\\/]", text) if part.strip())


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    """What the user asked to see; an empty filter keeps every device.

    `group` keeps the devices of that group and of its sub-groups. `text` matches name, IP, user, OS
    and group, case-insensitively; a leading `!` keeps the devices that do not match.
    """

    critical: bool = False
    missing_patch: bool = False
    group: tuple[str, ...] = ()
    text: str = ""

    def matches(self, device: Device) -> bool:
        if self.critical and device.health is not Health.CRITICAL:
            return False
        if self.missing_patch and device.missing_critical_patches is not True:
            return False
        if self.group and not any(self._in_group(path) for path in (device.group, *device.labels)):
            return False
        if self.text:
            negate = self.text.startswith("!")
            needle = self.text[1:].casefold() if negate else self.text.casefold()
            if needle:
                haystack = " ".join(
                    (device.name, " ".join(device.ip_addresses), device.user, device.os, device.group)
                ).casefold()
                if (needle in haystack) == negate:
                    return False
        return True

    def _in_group(self, path_text: str) -> bool:
        path = split_group_path(path_text)
        return tuple(part.casefold() for part in path[: len(self.group)]) == tuple(
            part.casefold() for part in self.group
        )

    def apply(self, devices: Iterable[Device]) -> list[Device]:
        return [device for device in devices if self.matches(device)]


def count_by_group(devices: Iterable[Device]) -> dict[tuple[str, ...], int]:
    """Devices per group path, each device counted once in each of its groups, labels and their ancestors."""
    counts: dict[tuple[str, ...], int] = {}
    for device in devices:
        prefixes = {
            path[:depth]
            for path in map(split_group_path, (device.group, *device.labels))
            for depth in range(1, len(path) + 1)
        }
        for prefix in prefixes:
            counts[prefix] = counts.get(prefix, 0) + 1
    return counts
