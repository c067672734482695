"""Typed page decoding (issue 16, item 2) maps every page to the same Devices as the path it replaced: every
field of a page decoded into dicts (`json_loads`) and mapped with `dict.get`. That old path lives here, per
vendor, only for this comparison: simulator pages, the seed payloads, and mutated pages with junk of every
kind."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from hypothesis import example, given
from hypothesis import strategies as st

from helpers import (
    ELEMENTS_DEVICES,
    ELEMENTS_FLEET,
    ELEMENTS_ORGANIZATIONS,
    EPMM_DEVICES,
    EPMM_SPACES,
    FIXED_NOW,
    SEED_GROUPS,
    SEPM_COMPUTERS,
    SEPM_READS,
    mutated,
)
from tui.models import Connection, Device, Health, RawPage, json_loads, visible_tree
from tui.simulators.elements import ElementsFleet
from tui.simulators.epmm import EpmmFleet
from tui.simulators.sepm import SepmFleet
from tui.vendors import elements, epmm, sepm
from tui.vendors.base import BadResponseError, epoch_ms, epoch_or_rfc3339, rfc3339

TODAY = FIXED_NOW.date()
GROUPS_BY_ID = {group.id: group for group in sepm.groups_from_records(
    SepmFleet(size=40, seed=11, now=FIXED_NOW).groups + json.loads(SEED_GROUPS)["content"])}
WIDE = 123456789012345678901234567890


def response(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "application/json"},
                          request=httpx.Request("GET", "https://sepm.test/sepm/api/v1/computers"))


@functools.cache  # one client (its TLS context takes long to make) for every example
def sepm_client() -> sepm.SepmClient:
    return sepm.SepmClient(Connection(name="c", vendor="sepm", url="https://sepm.test"), None)


# --- the old SEPM path, as it was before typed pages ------------------------------------------------------

def old_sepm_devices(body: bytes) -> list[tuple[int, Device]]:
    page = json_loads(body)
    if not isinstance(page, dict) or not isinstance(page.get("content"), list):
        raise BadResponseError("no content")
    return [(index, old_computer_to_device(item, GROUPS_BY_ID, TODAY)) for index, item in enumerate(page["content"])
            if isinstance(item, dict)]


def old_computer_to_device(record: dict[str, Any], groups_by_id: dict, today: date) -> Device:
    get = record.get
    group_info = get("group")
    if not isinstance(group_info, dict):
        group_info = {}
    group = groups_by_id.get(str(group_info.get("id")))
    group_path = group.path_text if group else str(group_info.get("fullPathName") or group_info.get("name") or "")
    health, reasons, missing = old_assess(record, today)
    addresses = get("ipAddresses")
    return Device(
        vendor="sepm",
        connection="c",
        id=str(get("uniqueId") or get("hardwareKey") or ""),
        name=str(get("computerName") or ""),
        os=str(get("osName") or get("osname") or get("operatingSystem") or "").strip(),
        ip_addresses=tuple(map(str, addresses)) if isinstance(addresses, list) else (),
        group_id=group.id if group else group_info["id"] if isinstance(group_info.get("id"), str) else None,
        group=group_path,
        online=sepm._ONLINE.get(sepm._code(get("onlineStatus"))),
        health=health,
        health_reasons=reasons,
        missing_critical_patches=missing,
        last_seen=epoch_ms(get("lastUpdateTime")),
        user=str(get("logonUserName") or ""),
    )


def old_assess(record: dict[str, Any], today: date) -> tuple[Health, tuple[str, ...], bool | None]:
    get, code = record.get, sepm._code
    critical: list[str] = []
    warning: list[str] = []
    if code(get("infected")) == 1:
        critical.append("infected")
    auto_protect = code(get("apOnOff"))
    for state, label in ((auto_protect, "Auto-Protect"), (code(get("avEngineOnOff")), "AV engine")):
        if state in sepm._BROKEN:
            critical.append(f"{label} {sepm._BROKEN[state]}")
    if auto_protect == 3:
        warning.append("Auto-Protect disabled by policy")
    for key, label in (("firewallOnOff", "firewall"), ("tamperOnOff", "tamper protection"), ("bashStatus", "SONAR")):
        state = code(get(key))
        if state in sepm._BROKEN:
            warning.append(f"{label} {sepm._BROKEN[state]}")
    if code(get("rebootRequired")) == 1:
        warning.append("reboot required")
    defs_age = sepm.definitions_age_days(get("avDefsetVersion"), today)
    if defs_age is not None and defs_age > sepm.CRITICAL_DEFS_DAYS:
        critical.append(f"definitions {defs_age} days old")
    elif defs_age is not None and defs_age > sepm.STALE_DEFS_DAYS:
        warning.append(f"definitions {defs_age} days old")
    running = sepm.version_tuple(get("deploymentRunningVersion") or get("agentVersion"))
    target = sepm.version_tuple(get("deploymentTargetVersion"))
    agent_behind = None if running is None or target is None else running < target
    if agent_behind:
        warning.append("agent below deployment target")
    if defs_age is None and agent_behind is None:
        missing = None
    else:
        missing = bool((defs_age is not None and defs_age > sepm.STALE_DEFS_DAYS) or agent_behind)
    if critical:
        return Health.CRITICAL, tuple(critical + warning), missing
    if warning:
        return Health.WARNING, tuple(warning), missing
    if auto_protect == 1 or defs_age is not None:
        return Health.OK, (), missing
    return Health.UNKNOWN, (), missing


def new_sepm_devices(body: bytes) -> list[tuple[int, Device]]:
    page, raw = sepm_client()._read_computers(response(body))
    if page is None:
        raise BadResponseError("no content")
    devices = [(index, sepm.computer_to_device(item, "c", GROUPS_BY_ID, TODAY, raw, index))
               for index, item in enumerate(page.content) if isinstance(item, sepm.Computer)]
    assert all(device.raw_index == index and device.raw_page is raw for index, device in devices)
    return devices


def assert_maps_as_before(body: bytes, *, old: Callable[[bytes], Any], new: Callable[[bytes], Any],
                          records: str | None = None) -> None:
    """The typed path (`new`) maps the page as the old mapping did, refusing what it refused; with `records`, the
    page's key of the record list, the last device also keeps its record, made visible, as its raw record."""
    try:
        before = old(body)
    except (BadResponseError, ValueError, UnicodeDecodeError):
        before = None
    try:
        after = new(body)
    except BadResponseError:
        after = None
    assert after == before
    if after and records is not None:
        index, device = after[-1]
        assert device.raw == visible_tree(json_loads(body)[records][index])


assert_same_sepm_devices = functools.partial(assert_maps_as_before, old=old_sepm_devices, new=new_sepm_devices,
                                             records="content")


def sepm_page(records: list[Any], **rest: Any) -> bytes:
    return json.dumps({"content": records, "totalElements": len(records), "lastPage": True, **rest}).encode()


def test_simulator_pages_map_as_before() -> None:
    for seed, legacy in ((11, False), (3, True)):
        fleet = SepmFleet(size=1000, seed=seed, now=FIXED_NOW, legacy_os_keys=legacy)
        body = sepm_page([fleet.computer(index) for index in range(1000)])
        assert sepm_client()._read_computers(response(body))[0] is not None
        assert_same_sepm_devices(body)


def test_a_clean_page_is_decoded_typed_and_junk_the_old_way() -> None:
    clean = sepm_page(SEPM_COMPUTERS)
    assert all(isinstance(item, sepm.Computer) for item in sepm_client()._read_computers(response(clean))[0].content)
    for junk in (b'{"content": [{"uniqueId": "a", "onlineStatus": %d}]}' % WIDE,
                 b'{"content": [{"uniqueId": "a", "lastUpdateTime": 1e400}]}',
                 b'{"content": [{"uniqueId": "a", "memory": 1e400, "computerName": "x"}, 7, null]}',
                 b'{"content": [{"uniqueId": "a", "note": "\xff\xfe", "computerName": "x"}]}',
                 b'{"content": [{"uniqueId": "a", "apOnOff": true, "infected": 1.0}]}',
                 b'{"content": "none"}', b'[]', b'{"content": [{"uniqueId": "\\ud800"}]}'):
        assert_same_sepm_devices(junk)


@given(st.lists(mutated(SEPM_COMPUTERS, SEPM_READS), max_size=4), st.sampled_from(["", "1e400", str(WIDE), "-0"]))
@example([{**SEPM_COMPUTERS[0], "uniqueId": 2**64}], "")
@example([{**SEPM_COMPUTERS[0], "group": {"id": 5, "name": ["x"]}, "ipAddresses": [1, None]}], "")
@example([{**SEPM_COMPUTERS[0], "avDefsetVersion": ["240820021"], "deploymentTargetVersion": {"v": "14.3"}},
          {**SEPM_COMPUTERS[0], "avDefsetVersion": 240820021}, SEPM_COMPUTERS[0]], "")  # no key; 1 or "1"
def test_mutated_pages_map_as_before(records: list[Any], number: str) -> None:
    body = sepm_page(records)
    if number and records:  # a number orjson cannot write, in place of the first record's first field
        body = body.replace(b'"content": [{', b'"content": [{"spoilt": %s, ' % number.encode(), 1)
    assert_same_sepm_devices(body)


def test_a_computer_given_as_a_dict_keeps_it_as_its_raw_record() -> None:
    device = sepm.computer_to_device(SEPM_COMPUTERS[0], "c", GROUPS_BY_ID, TODAY)
    assert device.raw == visible_tree(SEPM_COMPUTERS[0]) and isinstance(device.raw_page, RawPage)


# --- the old EPMM path ------------------------------------------------------------------------------------

SPACE_IDS = {str(space["name"]): str(space["id"]) for space in EPMM_SPACES}
EPMM_READS = frozenset(epmm._DEVICE_KEYS)


def old_epmm_devices(body: bytes) -> list[tuple[int, Device]]:
    page = json_loads(body)
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise BadResponseError("no results")
    return [(index, old_record_to_device(item)) for index, item in enumerate(page["results"]) if isinstance(item, dict)]


def old_record_to_device(record: dict[str, Any]) -> Device:
    platform = str(record.get("common.platform") or "").strip()
    space = str(record.get("common.device_space_name") or "").strip()
    ip_address = epmm.shown(record.get("common.ip_address"))
    last_seen = epoch_or_rfc3339(record.get("common.last_connected_at"))
    health, reasons, missing = old_epmm_assess(record)
    device_id = str(record.get("common.uuid") or record.get("common.id") or "")
    name = epmm.shown(record.get("ios.DeviceName"))
    if not name:
        model, tail = epmm.shown(record.get("common.model")), device_id[-6:]
        name = f"{model} ({tail})" if model and tail else model or device_id
    return Device(
        vendor="epmm", connection="c", id=device_id, name=name,
        os=f"{platform} {epmm.shown(record.get('common.os_version'))}".strip(),
        ip_addresses=(ip_address,) if ip_address and ip_address != epmm.OBFUSCATED else (),
        group_id=f"space:{SPACE_IDS[space]}" if space in SPACE_IDS else None,
        group=f"{epmm.SPACES}\\{space}" if space else "",
        online=None if last_seen is None else FIXED_NOW - last_seen <= epmm.ONLINE_WITHIN,
        health=health, health_reasons=reasons, missing_critical_patches=missing, last_seen=last_seen,
        user=epmm.shown(record.get("user.display_name"), record.get("user.user_id")),
        state="quarantined" if epmm.flag(record.get("common.quarantined")) and health is not Health.UNKNOWN else "",
    )


def old_epmm_assess(record: dict[str, Any]) -> tuple[Health, tuple[str, ...], bool | None]:
    status = str(record.get("common.status") or "").strip().upper()
    if status in ("RETIRED", "WIPED"):
        return Health.UNKNOWN, (status.lower(),), None
    platform = str(record.get("common.platform") or "").strip()
    version = str(record.get("common.os_version") or "").strip()
    compliant, quarantined = epmm.flag(record.get("common.compliant")), epmm.flag(record.get("common.quarantined"))
    security_state = str(record.get("common.security_state") or "").strip()
    critical: list[str] = []
    if security_state.casefold() == "compromised" or epmm.flag(record.get("common.device_is_compromised")):
        critical.append(f"compromised ({epmm._COMPROMISED.get(platform.casefold(), 'jailbroken or rooted')})")
    if quarantined:
        critical.append(epmm._with_reasons("quarantined", record.get("common.quarantined_reasons")))
    if compliant is False:
        critical.append(epmm._with_reasons("non-compliant", record.get("common.noncompliance_reasons")))
    warning: list[str] = []
    missing = epmm.os_unsupported(platform, version)
    if missing:
        warning.append(f"{platform} {version} no longer gets security fixes")
    if status and status != "ACTIVE":
        warning.append(f"status {status.lower()}")
    last_seen = epoch_or_rfc3339(record.get("common.last_connected_at"))
    if last_seen is not None and FIXED_NOW - last_seen > epmm.STALE_AFTER:
        warning.append(f"no check-in for {(FIXED_NOW - last_seen).days} days")
    if critical:
        return Health.CRITICAL, tuple(critical + warning), missing
    if warning:
        return Health.WARNING, tuple(warning), missing
    if compliant is not None or quarantined is not None or security_state:
        return Health.OK, (), missing
    return Health.UNKNOWN, (), missing


@functools.cache
def epmm_client() -> epmm.EpmmClient:
    return epmm.EpmmClient(Connection(name="c", vendor="epmm", url="https://epmm.test"), None)


def new_epmm_devices(body: bytes) -> list[tuple[int, Device]]:
    page, raw = epmm_client()._read_devices(response(body))
    if page is None:
        raise BadResponseError("no results")
    return [(index, epmm.record_to_device(item, "c", SPACE_IDS, FIXED_NOW, raw, index))
            for index, item in enumerate(page.results) if isinstance(item, epmm.SearchedDevice)]


assert_same_epmm_devices = functools.partial(assert_maps_as_before, old=old_epmm_devices, new=new_epmm_devices,
                                             records="results")


def epmm_page(records: list[Any]) -> bytes:
    return json.dumps({"results": records, "totalCount": len(records), "hasMore": False}).encode()


def test_epmm_simulator_pages_map_as_before() -> None:
    fleet = EpmmFleet(size=1000, seed=5, now=FIXED_NOW)
    body = epmm_page([fleet.device(index) for index in range(1000)])
    assert all(isinstance(item, epmm.SearchedDevice) for item in epmm_client()._read_devices(response(body))[0].results)
    assert_same_epmm_devices(body)


@given(st.lists(mutated(EPMM_DEVICES, EPMM_READS), max_size=4), st.sampled_from(["", "1e400", str(WIDE), "-0"]))
@example([{**EPMM_DEVICES[0], "common.compliant": "False ", "common.quarantined": "true",
           "common.quarantined_reasons": "a; b", "common.last_connected_at": 1764000000000}], "")
@example([{**EPMM_DEVICES[0], "common.id": 2**64, "common.uuid": None, "user.display_name": "*****"}], "")
def test_mutated_epmm_pages_map_as_before(records: list[Any], number: str) -> None:
    body = epmm_page(records)
    if number and records:
        body = body.replace(b'"results": [{', b'"results": [{"spoilt": %s, ' % number.encode(), 1)
    assert_same_epmm_devices(body)


# --- the old Elements path --------------------------------------------------------------------------------

ORGANIZATIONS = {group.id: group for group in elements.organization_tree(ELEMENTS_ORGANIZATIONS,
                                                                         ELEMENTS_FLEET.partner["id"])}
ELEMENTS_READS = frozenset(elements.ListedDevice.__struct_fields__) | {"version"}


def old_elements_devices(body: bytes) -> tuple[list[tuple[int, Device]], frozenset[int]]:
    repaired: frozenset[int] = frozenset()
    try:
        page = json_loads(body)
    except (ValueError, UnicodeDecodeError):
        lenient = elements.lenient_page(body)
        if lenient is None:
            raise
        page, _, repaired = lenient
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        raise BadResponseError("no items")
    items = page["items"]
    kept = [index for index, item in enumerate(items)
            if isinstance(item, dict) and elements._text(item.get("id"))]
    return [(index, old_device_from_record(items[index])) for index in kept], repaired


def old_device_from_record(record: dict[str, Any]) -> Device:
    company = elements._object(record.get("company"))
    group = ORGANIZATIONS.get(str(company.get("id")))
    os_info = elements._object(record.get("os"))
    overview = record.get("protectionStatusOverview")
    health = elements._HEALTH.get(overview, Health.UNKNOWN) if isinstance(overview, str) else Health.UNKNOWN
    state = overview if overview in ("isolated", "inactive") else "blocked" if record.get("state") == "blocked" else ""
    reasons = [elements._STATE_REASONS[state]] if state else []
    if overview in ("critical", "warning"):
        reasons.append(f"protection status {overview}")
    if health in (Health.CRITICAL, Health.WARNING):
        for key, label in (("malwareState", "malware protection"), ("firewallState", "firewall")):
            if record.get(key) == "disabled":
                reasons.append(f"{label} disabled")
    patch_state = record.get("patchOverallState")
    if isinstance(patch_state, str) and patch_state in elements._PATCH_UNKNOWN:
        reasons.append(elements._PATCH_UNKNOWN[patch_state])
    online = record.get("online")
    return Device(
        vendor="elements", connection="c", id=str(record.get("id") or ""), name=str(record.get("name") or ""),
        os=" ".join(str(os_info.get(key) or "") for key in ("name", "version")).strip(),
        ip_addresses=elements.ip_addresses(record.get("ipAddresses")),
        group_id=group.id if group else company["id"] if isinstance(company.get("id"), str) else None,
        group=group.path_text if group else str(company.get("name") or ""),
        online=online if isinstance(online, bool) else None, health=health, health_reasons=tuple(reasons),
        missing_critical_patches=elements._MISSING_CRITICAL.get(patch_state) if isinstance(patch_state, str) else None,
        last_seen=rfc3339(record.get("statusUpdateTimestamp")), user=str(record.get("lastUser") or ""), state=state,
    )


@functools.cache
def elements_client() -> elements.ElementsClient:
    return elements.ElementsClient(Connection(name="c", vendor="elements", url="https://elements.test"), None)


def new_elements_devices(body: bytes) -> tuple[list[tuple[int, Device]], frozenset[int]]:
    page, raw, repaired = elements_client()._read_page(elements.DEVICES_PATH, response(body), None, devices=True)
    return [(index, elements.device_from_record(item, "c", ORGANIZATIONS, raw, index))
            for index, item in enumerate(page.items) if elements.is_device(item)], repaired


assert_same_elements_devices = functools.partial(assert_maps_as_before, old=old_elements_devices,
                                                 new=new_elements_devices)


def elements_page(records: list[Any]) -> bytes:
    return json.dumps({"items": records, "nextAnchor": None}).encode()


def test_elements_simulator_and_fixture_pages_map_as_before() -> None:
    fleet = ElementsFleet(size=1000, seed=5, now=FIXED_NOW)
    body = elements_page([fleet.device(index) for index in range(1000)])
    page = elements_client()._read_page(elements.DEVICES_PATH, response(body), None, devices=True)[0]
    assert all(isinstance(item, elements.ListedDevice) for item in page.items)
    assert_same_elements_devices(body)
    assert_same_elements_devices((Path(__file__).parent / "fixtures" / "elements" / "devices-page.json").read_bytes())


@given(st.lists(mutated(ELEMENTS_DEVICES, ELEMENTS_READS), max_size=4),
       st.sampled_from(["", "1e400", str(WIDE), '"\u0000"', "\"\x00\"", '"\xff"']))
@example([{**ELEMENTS_DEVICES[0], "ipAddresses": ["10.0.0.1/8", " "], "os": None, "company": {"id": 7}}], "")
def test_mutated_elements_pages_map_as_before(records: list[Any], spoilt: str) -> None:
    body = elements_page(records)
    if spoilt and records:  # a field no device reads, whose value orjson, msgspec or UTF-8 cannot take
        body = body.replace(b'"items": [{', b'"items": [{"spoilt": %s, ' % spoilt.encode("latin-1"), 1)
    assert_same_elements_devices(body)
