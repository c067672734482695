"""SEPM computer records to vendor-neutral devices: group, OS fallback, timestamps, health and patches."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import pytest

from tui.models import Group, Health
from tui.vendors.sepm import computer_to_device, definitions_age_days, version_tuple

TODAY = date(2024, 8, 21)

# The real 14.3 record of the fact sheet (section 7.4), trimmed as it is there.
REAL_COMPUTER = {
    "agentId": "FC50D87A092E5BB91E4D52E4CB82C6CF",
    "agentVersion": "14.3.9717.7000",
    "apOnOff": 3,
    "avDefsetRevision": "21",
    "avDefsetSequence": "236155",
    "avDefsetVersion": "240820021",
    "avEngineOnOff": 1,
    "bashStatus": 1,
    "computerName": "WIN-N5KGH4CP3N3",
    "deploymentRunningVersion": "14.3.9717.7000",
    "deploymentTargetVersion": "14.3.9717.7000",
    "firewallOnOff": 1,
    "group": {
        "domain": {"id": "6E70F043092E5BB93F74FD57C083F99E", "name": "Default"},
        "externalReferenceId": None,
        "fullPathName": None,
        "id": "E5E684A6092E5BB90F46E84BB6F35BBC",
        "name": "My Company\\Group1",
        "source": None,
    },
    "hardwareKey": "8DACE2559C1C951E09CC0BF71D973BB7",
    "infected": 1,
    "ipAddresses": ["9.37.29.102"],
    "lastUpdateTime": 1724243995809,
    "logonUserName": "Administrator",
    "onlineStatus": 1,
    "operatingSystem": "Windows Server 2012 Standard Edition",
    "osName": "Windows Server 2012",
    "rebootRequired": 0,
    "tamperOnOff": 1,
    "uniqueId": "01ECF4E8092E5BB91E4D52E45C3ABE4D",
    "worstInfectionIdx": "0",
}
GROUPS = {
    "E5E684A6092E5BB90F46E84BB6F35BBC": Group(
        id="E5E684A6092E5BB90F46E84BB6F35BBC", name="Group1", path=("My Company", "Group1")
    )
}


def healthy(**changes: object) -> dict:
    record = copy.deepcopy(REAL_COMPUTER)
    record.update({"infected": 0, "apOnOff": 1, "worstInfectionIdx": "9999"})
    record.update(changes)
    return record


def test_real_record_maps_every_neutral_field() -> None:
    device = computer_to_device(REAL_COMPUTER, "prod", GROUPS, TODAY)
    assert device.id == "01ECF4E8092E5BB91E4D52E45C3ABE4D"
    assert device.name == "WIN-N5KGH4CP3N3"
    assert device.os == "Windows Server 2012"
    assert device.ip_addresses == ("9.37.29.102",)
    assert device.group_id == "E5E684A6092E5BB90F46E84BB6F35BBC"
    assert device.group == "My Company\\Group1"
    assert device.online is True
    assert device.user == "Administrator"
    assert device.last_seen == datetime(2024, 8, 21, 12, 39, 55, 809000, tzinfo=UTC)
    assert device.health is Health.CRITICAL
    assert device.health_reasons[0] == "infected"
    assert "Auto-Protect disabled by policy" in device.health_reasons
    assert device.missing_critical_patches is False
    assert device.raw == REAL_COMPUTER


def test_group_falls_back_to_the_full_path_in_group_name_when_the_id_is_unknown() -> None:
    device = computer_to_device(REAL_COMPUTER, "prod", {}, TODAY)
    assert device.group == "My Company\\Group1"


def test_legacy_lower_case_osname_is_read() -> None:
    record = healthy()
    del record["osName"]
    record["osname"] = "Windows 7"
    assert computer_to_device(record, "prod", GROUPS, TODAY).os == "Windows 7"


def test_zero_timestamp_means_never() -> None:
    assert computer_to_device(healthy(lastUpdateTime=0), "prod", GROUPS, TODAY).last_seen is None


@pytest.mark.parametrize(
    ("changes", "health", "reason"),
    [
        ({}, Health.OK, None),
        ({"apOnOff": 0}, Health.CRITICAL, "Auto-Protect off"),
        ({"apOnOff": 4}, Health.CRITICAL, "Auto-Protect malfunctioning"),
        ({"avEngineOnOff": 0}, Health.CRITICAL, "AV engine off"),
        ({"avDefsetVersion": "240701001"}, Health.CRITICAL, "definitions 51 days old"),
        ({"avDefsetVersion": "240810001"}, Health.WARNING, "definitions 11 days old"),
        ({"apOnOff": 3}, Health.WARNING, "Auto-Protect disabled by policy"),
        ({"firewallOnOff": 4}, Health.WARNING, "firewall malfunctioning"),
        ({"rebootRequired": 1}, Health.WARNING, "reboot required"),
        ({"deploymentRunningVersion": "14.3.8259.5000"}, Health.WARNING, "agent below deployment target"),
        ({"apOnOff": 127, "avDefsetVersion": None}, Health.UNKNOWN, None),
    ],
)
def test_health_mapping(changes: dict, health: Health, reason: str | None) -> None:
    device = computer_to_device(healthy(**changes), "prod", GROUPS, TODAY)
    assert device.health is health
    if reason is None:
        assert device.health_reasons == ()
    else:
        assert reason in device.health_reasons


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({}, False),
        ({"avDefsetVersion": "240810001"}, True),
        ({"avDefsetVersion": "240816001"}, False),
        ({"deploymentRunningVersion": "14.3.8259.5000"}, True),
        ({"avDefsetVersion": None, "deploymentTargetVersion": None}, None),
        ({"avDefsetVersion": None}, False),
    ],
)
def test_missing_patch_mapping(changes: dict, missing: bool | None) -> None:
    assert computer_to_device(healthy(**changes), "prod", GROUPS, TODAY).missing_critical_patches is missing


def test_definition_and_version_parsing() -> None:
    assert definitions_age_days("240820021", TODAY) == 1
    assert definitions_age_days("241399001", TODAY) is None
    assert definitions_age_days(None, TODAY) is None
    assert version_tuple("14.3.9717.7000") == (14, 3, 9717, 7000)
    assert version_tuple("14.3 RU7") is None
