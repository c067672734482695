"""Vendor-neutral records shared by the clients, the CLI and the screens.

Every vendor client maps its payloads onto these types, so the UI and the CLI never read a vendor
field directly; the raw payload stays attached for the detail view and for export.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

VENDORS: dict[str, str] = {
    "sepm": "Symantec Endpoint Protection Manager",
    "epmm": "Ivanti EPMM (MobileIron Core)",
    "elements": "WithSecure Elements",
}
"""Vendor keys accepted in a connection profile, with the name a user knows them by."""


class Health(str, enum.Enum):
    """How urgently a device needs a defender's attention."""

    CRITICAL = "critical"
    WARNING = "warning"
    OK = "ok"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class Connection:
    """One console the user can open: a profile from config.toml or a demo profile.

    Secrets are never a plain field of the profile unless the user chose to save one (`password`).
    """

    name: str
    vendor: str
    url: str
    username: str = ""
    domain: str = ""
    password_env: str | None = None
    password_command: str | None = None
    password: str | None = field(default=None, repr=False)
    verify: bool | str = True
    allow_http: bool = False
    read_only: bool = True
    device_space_id: int = 1
    """EPMM: the admin device space the API user works in (1 is the global space)."""
    connected_cloud: bool = False
    """EPMM: the Connected Cloud variant, where every API path gains a `rest/` prefix."""

    @property
    def tls_label(self) -> str:
        """How the server certificate is checked, in words for the connections table."""
        if self.url.startswith("http://"):
            return "plain http"
        if self.verify is False:
            return "NOT verified"
        if isinstance(self.verify, str):
            return "custom CA"
        return "verified"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What an unauthenticated probe learns about a console."""

    product: str
    version: str
    api_version: str = ""

    @property
    def title(self) -> str:
        """"SEPM 14.3.25029.9000", or the product alone, said plainly, when the server keeps its version."""
        return f"{self.product} {self.version}" if self.version else f"{self.product} (version not disclosed)"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a vendor's API can do; a missing capability is shown as absent, never faked."""

    groups: bool = True
    devices: bool = True
    fingerprints: bool = False
    events: bool = False


@dataclass(slots=True)
class Group:
    """A node of a console's group tree; `path` is the list of names from the root down."""

    id: str
    name: str
    path: tuple[str, ...]
    parent_id: str | None = None
    device_count: int | None = None

    @property
    def path_text(self) -> str:
        return "\\".join(self.path)

    def to_json(self) -> dict[str, Any]:
        """The CLI's documented JSON record of a group."""
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path_text,
            "parent_id": self.parent_id,
            "device_count": self.device_count,
        }


@dataclass(slots=True)
class Device:
    """One managed computer or phone, as every screen and the CLI see it."""

    vendor: str
    connection: str
    id: str
    name: str
    os: str = ""
    ip_addresses: tuple[str, ...] = ()
    group_id: str | None = None
    group: str = ""
    online: bool | None = None
    health: Health = Health.UNKNOWN
    health_reasons: tuple[str, ...] = ()
    missing_critical_patches: bool | None = None
    last_seen: datetime | None = None
    user: str = ""
    labels: tuple[str, ...] = ()
    """Further group paths the device belongs to (EPMM labels), besides its one `group`."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The CLI's documented JSON record (README: "JSON schema")."""
        return {
            "vendor": self.vendor,
            "connection": self.connection,
            "id": self.id,
            "name": self.name,
            "os": self.os,
            "ip_addresses": list(self.ip_addresses),
            "group": self.group,
            "online": self.online,
            "health": self.health.value,
            "missing_critical_patches": self.missing_critical_patches,
            "last_seen": iso_utc(self.last_seen),
        }


@dataclass(frozen=True, slots=True)
class FingerprintList:
    """A named list of file hashes (SEPM); `hashes` are upper-case, as the console stores them."""

    id: str
    name: str
    hash_type: str | None
    source: str | None
    description: str
    hashes: tuple[str, ...]
    group_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    """The filters a client sends to the server where its API supports them; the rest run locally."""

    critical: bool = False
    missing_patch: bool = False
    group_id: str | None = None


@dataclass(slots=True)
class DevicePage:
    """One page of devices as it arrives, with how far the listing has got."""

    devices: list[Device]
    loaded: int
    total: int | None


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, the one timestamp format the CLI prints."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

