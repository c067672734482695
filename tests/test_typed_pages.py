"""Typed page decoding (issue 16, item 2) maps every page to the same Devices as the path it replaced: every
field of a page decoded into dicts (`json_loads`) and mapped with `dict.get`. That old path lives here, only
for this comparison: simulator pages, the seed payloads, and mutated pages with junk of every kind."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
from hypothesis import example, given
from hypothesis import strategies as st

from helpers import FIXED_NOW, SEED_GROUPS, SEPM_COMPUTERS, SEPM_READS, mutated
from tui.models import Connection, Device, Health, RawPage, json_loads, visible_tree
from tui.simulators.sepm import SepmFleet
from tui.vendors import sepm
from tui.vendors.base import BadResponseError, epoch_ms

TODAY = FIXED_NOW.date()
GROUPS_BY_ID = {group.id: group for group in sepm.groups_from_records(
    SepmFleet(size=40, seed=11, now=FIXED_NOW).groups + json.loads(SEED_GROUPS)["content"])}
WIDE = 123456789012345678901234567890


def response(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "application/json"},
                          request=httpx.Request("GET", "https://sepm.test/sepm/api/v1/computers"))


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


def assert_same_sepm_devices(body: bytes) -> None:
    try:
        old = old_sepm_devices(body)
    except (BadResponseError, ValueError, UnicodeDecodeError):
        old = None
    try:
        new = new_sepm_devices(body)
    except BadResponseError:
        new = None
    assert new == old
    if new:
        index, device = new[-1]
        assert device.raw == visible_tree(json_loads(body)["content"][index])


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
def test_mutated_pages_map_as_before(records: list[Any], number: str) -> None:
    body = sepm_page(records)
    if number and records:  # a number orjson cannot write, in place of the first record's first field
        body = body.replace(b'"content": [{', b'"content": [{"spoilt": %s, ' % number.encode(), 1)
    assert_same_sepm_devices(body)


def test_a_computer_given_as_a_dict_keeps_it_as_its_raw_record() -> None:
    device = sepm.computer_to_device(SEPM_COMPUTERS[0], "c", GROUPS_BY_ID, TODAY)
    assert device.raw == visible_tree(SEPM_COMPUTERS[0]) and isinstance(device.raw_page, RawPage)
