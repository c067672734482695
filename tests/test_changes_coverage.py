"""What changed between two fleets (tui/changes.py) and which consoles see each machine (tui/coverage.py)."""

from __future__ import annotations

from tui.changes import ChangeKind, changes_between
from tui.coverage import CoverageFilter, host_key, match_machines
from tui.models import Device, Health


def device(id_: str, name: str = "", connection: str = "lab", **fields) -> Device:
    return Device(vendor="sepm", connection=connection, id=id_, name=name or f"host-{id_}", **fields)


def nameless(id_: str, connection: str) -> Device:
    return Device(vendor="epmm", connection=connection, id=id_, name="")


def test_each_kind_of_change_is_found_and_listed_most_urgent_first() -> None:
    before = [device("1", online=True), device("2", health=Health.WARNING), device("3"),
              device("4", group="A"), device("5"), device("7", health=Health.CRITICAL, online=None)]
    after = [device("1", online=None), device("2", health=Health.CRITICAL), device("3", missing_critical_patches=True),
             device("4", group="B"), device("6"), device("7", health=Health.CRITICAL, online=False)]
    found = changes_between(before, after)
    assert [(c.kind, c.device.id, c.before, c.after) for c in found] == [
        (ChangeKind.CRITICAL, "2", "warning", "critical"), (ChangeKind.MISSING_PATCH, "3", "unknown", "yes"),
        (ChangeKind.APPEARED, "6", "", ""), (ChangeKind.DISAPPEARED, "5", "", ""),
        (ChangeKind.OFFLINE, "1", "online", "unknown"), (ChangeKind.MOVED, "4", "A", "B")]
    assert found[0].to_json() == {"change": "critical", "connection": "lab", "id": "2", "name": "host-2",
                                  "before": "warning", "after": "critical", "group": "", "health": "critical"}


def test_one_device_with_several_changes_has_a_row_for_each_and_ids_are_per_connection() -> None:
    before = [device("1", online=True, group="A"), device("1", connection="other")]
    after = [device("1", online=False, group="B", health=Health.CRITICAL), device("1", connection="third")]
    kinds = [(c.kind, c.device.connection) for c in changes_between(before, after)]
    assert kinds == [(ChangeKind.CRITICAL, "lab"), (ChangeKind.APPEARED, "third"), (ChangeKind.DISAPPEARED, "other"),
                     (ChangeKind.OFFLINE, "lab"), (ChangeKind.MOVED, "lab")]


def test_host_names_match_without_case_or_domain_but_addresses_stay_whole() -> None:
    assert host_key("WS-ENG-001.corp.example") == host_key("ws-eng-001") == "ws-eng-001"
    assert host_key("10.1.2.3") == "10.1.2.3" and host_key("fe80::1") == "fe80::1"
    assert host_key(" Srv.1 ") == "srv" and host_key("") == ""


def test_machines_list_the_consoles_that_see_them_and_the_filters_pick_blind_spots() -> None:
    devices = [device("1", "WS-1.corp", "sepm"), device("a", "ws-1", "elements"), device("2", "ws-2", "sepm"),
               device("b", "phone", "epmm"), nameless("c", "epmm"), nameless("d", "elements"),
               device("3", "dup", "sepm"), device("4", "DUP.other", "sepm")]
    machines = match_machines(devices)
    by_name = {machine.name: machine for machine in machines}
    assert by_name["WS-1.corp"].consoles == ["elements", "sepm"]
    assert by_name["dup"].shared_name and not by_name["WS-1.corp"].shared_name
    assert "(no name: c)" in by_name and "(no name: d)" in by_name  # nameless devices never match each other
    consoles = ["elements", "epmm", "sepm"]
    assert by_name["ws-2"].to_json(consoles) == {"machine": "ws-2", "consoles": ["sepm"],
                                                 "missing": ["elements", "epmm"], "seen_by": 1,
                                                 "shared_name": False, "devices": {"sepm": ["2"]}}
    assert [m.name for m in CoverageFilter(missing_from="elements").apply(machines)] == [
        "(no name: c)", "dup", "phone", "ws-2"]
    assert "WS-1.corp" not in [m.name for m in CoverageFilter(only_one=True).apply(machines)]
