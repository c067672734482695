"""Symantec Endpoint Protection Manager 14 (REST API v1 on port 8446).

Authentication: `POST /identity/authenticate` returns a bearer `token` valid `tokenExpiration` seconds.
The token is reused until shortly before it expires, and fetched again once when a call answers 401
(then the call is replayed once; a second 401 is a real authentication failure).

Groups come from `/groups` (paged until `lastPage`); the tree is built from `fullPathName`, whose levels
are separated by backslashes. A computer's group is found by `group.id`, because real servers put the
full path in `group.name` and leave `group.fullPathName` null.

Health of a computer (`Device.health`), first match wins:

- critical: `infected == 1`; Auto-Protect (`apOnOff`) or the AV engine (`avEngineOnOff`) off (0) or
  malfunctioning (4); virus definitions (`avDefsetVersion`, yyMMddRRR) older than 30 days.
- warning: definitions older than 7 days; Auto-Protect disabled by policy (3); firewall, tamper
  protection or SONAR (`bashStatus`) off or malfunctioning; a reboot required; the agent running below
  its deployment target version.
- ok: protection state reported and none of the above.
- unknown: neither Auto-Protect state (127 = not reported) nor definitions are known.

Missing critical patches (`Device.missing_critical_patches`): true when the definitions are older than
7 days or the running agent is below `deploymentTargetVersion`; false when at least one of the two is
known and fine; null when neither is reported (14.0 and 14.2 RU1 send no `avDefsetVersion`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from tui.models import (
    Capabilities,
    Device,
    DevicePage,
    DeviceQuery,
    FingerprintList,
    Group,
    Health,
    ServerInfo,
)
from tui.vendors.base import BadResponseError, BearerTokenClient, epoch_ms, ordered_pages, token_lifetime

API = "/sepm/api/v1"
GROUP_PAGE_SIZE = 500
COMPUTER_PAGE_SIZE = 500
STALE_DEFS_DAYS = 7
CRITICAL_DEFS_DAYS = 30

_OFF, _ON, _POLICY_OFF, _MALFUNCTION = 0, 1, 3, 4
_BROKEN = {_OFF: "off", _MALFUNCTION: "malfunctioning"}


class SepmClient(BearerTokenClient):
    vendor = "sepm"
    product = "SEPM"
    capabilities = Capabilities(groups=True, devices=True)

    _groups_by_id: dict[str, Group] | None = None

    def error_message(self, payload: Any) -> str | None:
        if isinstance(payload, dict):
            return payload.get("errorMessage") or payload.get("message") or payload.get("error_description")
        return None

    async def probe(self) -> ServerInfo:
        body = await self.request_json("GET", f"{API}/version")
        if not isinstance(body, dict) or "version" not in body:
            raise BadResponseError(f"{self._where()} answered /version without a version; is this a SEPM?")
        return ServerInfo(self.product, str(body["version"]), str(body.get("API_VERSION", "")))

    async def fetch_token(self) -> tuple[str, float]:
        body = await self.request_json(
            "POST",
            f"{API}/identity/authenticate",
            json={
                "username": self.connection.username,
                "password": self._secret or "",
                "domain": self.connection.domain,
            },
        )
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponseError(f"{self._where()} accepted the login but returned no token.")
        return token, token_lifetime(body.get("tokenExpiration"))

    async def _page(self, path: str, index: int, page_size: int) -> dict[str, Any]:
        page = await self.authed_get(path, {"pageIndex": index, "pageSize": page_size})
        if not isinstance(page, dict) or not isinstance(page.get("content"), list):
            raise BadResponseError(f"{self._where()} sent a page of {path} without `content`.")
        return page

    async def _pages(self, path: str, page_size: int) -> AsyncIterator[dict[str, Any]]:
        """Every page of a SEPM page object (`pageIndex` from 1).

        The first page tells `totalPages`; the rest are fetched `page_concurrency` at a time and yielded
        in order. Without a usable `totalPages`, pages are read one by one until `lastPage`.
        """
        first = await self._page(path, 1, page_size)
        yield first
        if first.get("lastPage") is not False or not first["content"]:
            return
        total_pages = first.get("totalPages")
        if isinstance(total_pages, int) and total_pages > 1:
            fetch = lambda index: self._page(path, index, page_size)  # noqa: E731
            async for page in ordered_pages(fetch, range(2, total_pages + 1), self.page_concurrency):
                yield page
                if page.get("lastPage") is not False or not page["content"]:
                    return
            return
        index = 1
        while True:
            index += 1
            page = await self._page(path, index, page_size)
            yield page
            if page.get("lastPage") is not False or not page["content"]:
                return

    async def groups(self) -> list[Group]:
        records: list[dict[str, Any]] = []
        async for page in self._pages(f"{API}/groups", GROUP_PAGE_SIZE):
            records.extend(item for item in page["content"] if isinstance(item, dict))
        groups = groups_from_records(records)
        self._groups_by_id = {group.id: group for group in groups}
        return groups

    async def devices(self, query: DeviceQuery = DeviceQuery()) -> AsyncIterator[DevicePage]:
        """All computers: SEPM's API filters neither health nor patch state, so `query` is left to the caller."""
        groups_by_id = self._groups_by_id if self._groups_by_id is not None else {}
        if not groups_by_id:
            groups_by_id = {group.id: group for group in await self.groups()}
        loaded = 0
        today = self.clock().date()
        async for page in self._pages(f"{API}/computers", COMPUTER_PAGE_SIZE):
            devices = [
                computer_to_device(item, self.connection.name, groups_by_id, today)
                for item in page["content"]
                if isinstance(item, dict)
            ]
            loaded += len(devices)
            total = page.get("totalElements")
            yield DevicePage(devices, loaded, total if isinstance(total, int) else None)

    async def fingerprint_list(self, name: str) -> FingerprintList:
        """A fingerprint list by name (`GET ?name=`); a missing list answers 410, raised as NotFoundError."""
        body = await self.authed_get(f"{API}/policy-objects/fingerprints", {"name": name})
        return fingerprint_list_from_record(body)


def fingerprint_list_from_record(record: Any) -> FingerprintList:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise BadResponseError("The fingerprint list in the response has no id.")
    data = record.get("data") if isinstance(record.get("data"), list) else []
    groups = record.get("groupIds") if isinstance(record.get("groupIds"), list) else []
    return FingerprintList(
        id=record["id"],
        name=str(record.get("name") or ""),
        hash_type=record.get("hashType") if isinstance(record.get("hashType"), str) else None,
        source=record.get("source") if isinstance(record.get("source"), str) else None,
        description=str(record.get("description") or ""),
        hashes=tuple(str(item).upper() for item in data),
        group_ids=tuple(str(item) for item in groups),
    )


def groups_from_records(records: list[dict[str, Any]]) -> list[Group]:
    """Groups from `/groups` items, parents linked through `fullPathName`, sorted by path."""
    groups: list[Group] = []
    for record in records:
        group_id = record.get("id")
        full_path = record.get("fullPathName") or record.get("name")
        if not isinstance(group_id, str) or not isinstance(full_path, str):
            continue
        path = tuple(part for part in full_path.split("\\") if part)
        count = record.get("numberOfPhysicalComputers")
        groups.append(
            Group(
                id=group_id,
                name=path[-1] if path else str(record.get("name", "")),
                path=path,
                device_count=count if isinstance(count, int) else None,
            )
        )
    by_path = {group.path: group for group in groups}
    for group in groups:
        parent = by_path.get(group.path[:-1])
        group.parent_id = parent.id if parent else None
    groups.sort(key=lambda group: [part.casefold() for part in group.path])
    return groups


def computer_to_device(
    record: dict[str, Any], connection: str, groups_by_id: dict[str, Group], today: date
) -> Device:
    """Map one `/computers` item onto a `Device`, deciding health and patch state (module docstring)."""
    group_info = record.get("group") if isinstance(record.get("group"), dict) else {}
    group = groups_by_id.get(str(group_info.get("id")))
    group_path = group.path_text if group else str(group_info.get("fullPathName") or group_info.get("name") or "")
    health, reasons, missing = assess(record, today)
    addresses = record.get("ipAddresses")
    return Device(
        vendor="sepm",
        connection=connection,
        id=str(record.get("uniqueId") or record.get("hardwareKey") or ""),
        name=str(record.get("computerName") or ""),
        os=str(record.get("osName") or record.get("osname") or record.get("operatingSystem") or "").strip(),
        ip_addresses=tuple(str(ip) for ip in addresses) if isinstance(addresses, list) else (),
        group_id=group.id if group else group_info.get("id"),
        group=group_path,
        online={1: True, 0: False}.get(record.get("onlineStatus")),
        health=health,
        health_reasons=reasons,
        missing_critical_patches=missing,
        last_seen=epoch_ms(record.get("lastUpdateTime")),
        user=str(record.get("logonUserName") or ""),
        raw=record,
    )


def assess(record: dict[str, Any], today: date) -> tuple[Health, tuple[str, ...], bool | None]:
    """Health, the reasons for it, and the missing-patch state of one computer record."""
    critical: list[str] = []
    warning: list[str] = []
    if record.get("infected") == 1:
        critical.append("infected")
    for key, label in (("apOnOff", "Auto-Protect"), ("avEngineOnOff", "AV engine")):
        if record.get(key) in _BROKEN:
            critical.append(f"{label} {_BROKEN[record[key]]}")
    if record.get("apOnOff") == _POLICY_OFF:
        warning.append("Auto-Protect disabled by policy")
    for key, label in (("firewallOnOff", "firewall"), ("tamperOnOff", "tamper protection"), ("bashStatus", "SONAR")):
        if record.get(key) in _BROKEN:
            warning.append(f"{label} {_BROKEN[record[key]]}")
    if record.get("rebootRequired") == 1:
        warning.append("reboot required")

    defs_age = definitions_age_days(record.get("avDefsetVersion"), today)
    if defs_age is not None and defs_age > CRITICAL_DEFS_DAYS:
        critical.append(f"definitions {defs_age} days old")
    elif defs_age is not None and defs_age > STALE_DEFS_DAYS:
        warning.append(f"definitions {defs_age} days old")
    running = version_tuple(record.get("deploymentRunningVersion") or record.get("agentVersion"))
    target = version_tuple(record.get("deploymentTargetVersion"))
    agent_behind = None if running is None or target is None else running < target
    if agent_behind:
        warning.append("agent below deployment target")

    if defs_age is None and agent_behind is None:
        missing = None
    else:
        missing = bool((defs_age is not None and defs_age > STALE_DEFS_DAYS) or agent_behind)

    if critical:
        return Health.CRITICAL, tuple(critical + warning), missing
    if warning:
        return Health.WARNING, tuple(warning), missing
    if record.get("apOnOff") in (_ON,) or defs_age is not None:
        return Health.OK, (), missing
    return Health.UNKNOWN, (), missing


def definitions_age_days(version: Any, today: date) -> int | None:
    """Age in days of an `avDefsetVersion` such as "240820021" (2024-08-20, revision 21)."""
    return _definitions_age(str(version or ""), today)


def version_tuple(value: Any) -> tuple[int, ...] | None:
    """"14.3.9717.7000" as (14, 3, 9717, 7000); None when absent or not dotted numbers."""
    return _version_tuple(str(value or "").strip())


# A fleet shares a handful of definition and agent versions: parse each once (page mapping is a hot path).
@functools.lru_cache(maxsize=4096)
def _definitions_age(text: str, today: date) -> int | None:
    if len(text) < 6 or not text[:6].isdigit():
        return None
    try:
        published = date(2000 + int(text[0:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        return None
    return max(0, (today - published).days)


@functools.lru_cache(maxsize=4096)
def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = text.split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)
