"""The Textual-free loader of the groups screen (tui/fleet_load.py): what is shown while consoles load, what a
refresh swaps in, and what the status says, driven step by step and against the demo's simulators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import load_demo_consoles
from tui.fleet_load import FleetLoad, PageKind
from tui.models import Device, DevicePage, Group, ServerInfo
from tui.vendors.base import NetworkError

NOW = datetime(2026, 12, 5, 14, 2, tzinfo=UTC)


def page(connection: str, *ids: str, total: int | None = None, skipped: int = 0) -> DevicePage:
    devices = [Device(vendor="sepm", connection=connection, id=id_, name=f"host-{id_}") for id_ in ids]
    return DevicePage(devices, len(devices), total, skipped=skipped)


def clock_at(moments: list[datetime]):
    return lambda: moments[-1]


def test_a_first_load_shows_each_page_as_it_arrives_and_says_how_far_it_got() -> None:
    fleet = FleetLoad(["lab"], clock=lambda: NOW)
    assert fleet.start() is False and fleet.incoming is None
    fleet.servers["lab"] = ServerInfo(product="SEPM", version="14.3")
    assert fleet.add_page("lab", page("lab", "1", "2", total=5, skipped=1), PageKind.LISTING) is True
    assert len(fleet.inventory) == 2
    assert fleet.progress().words == f"{fleet.servers['lab'].title} · 2 / 5 loaded (1 item without an id left out) …"
    assert fleet.console_done("lab", None) and not fleet.console_done("lab", None)  # said once
    kept = fleet.finish()
    assert kept is not None and kept.loaded_at == NOW and kept.inventory is fleet.inventory
    assert fleet.progress().words.endswith("2 devices (1 item without an id left out)")


def test_a_refresh_fills_a_fresh_inventory_and_swaps_it_in_only_when_every_console_answered() -> None:
    moments = [NOW]
    fleet = FleetLoad(["a", "b"], clock=clock_at(moments))
    fleet.start()
    fleet.add_page("a", page("a", "1"), PageKind.LISTING)
    fleet.add_page("b", page("b", "2"), PageKind.LISTING)
    fleet.console_done("a", None), fleet.console_done("b", None)
    shown = fleet.inventory
    fleet.finish()

    moments.append(NOW + timedelta(minutes=3))
    fleet.start()
    assert fleet.incoming is not None and fleet.inventory is shown
    assert fleet.add_page("a", page("a", "1", "3"), PageKind.LISTING) is False  # not shown yet
    assert "a from 14:02 UTC, 3m ago · refreshing 2 loaded …" in fleet.progress().words
    fleet.console_done("a", None)
    assert fleet.loading and fleet.inventory is shown
    fleet.add_page("b", page("b", "2"), PageKind.LISTING)
    fleet.console_done("b", None)
    fleet.finish()
    assert fleet.inventory is not shown and len(fleet.inventory) == 3 and fleet.incoming is None


def test_a_failed_refresh_keeps_the_last_load_shown_and_says_it_is_stale() -> None:
    fleet = FleetLoad(["lab"], clock=lambda: NOW)
    fleet.start()
    fleet.add_page("lab", page("lab", "1", "2"), PageKind.LISTING)
    fleet.console_done("lab", None)
    fleet.finish()
    shown = fleet.inventory

    fleet.start()
    error = NetworkError("The console did not answer.")
    fleet.console_done("lab", error)
    assert fleet.finish() is None and fleet.inventory is shown
    progress = fleet.progress()
    assert progress.error and progress.pane_problem is None  # devices are shown: no problem in the pane
    assert progress.words == (f"Refresh failed: {error} Showing the devices of the last load (14:02 UTC, 0s ago). "
                              "ctrl+r retries.")


def test_a_first_load_that_failed_part_way_is_not_kept_as_the_last_good_load() -> None:
    fleet = FleetLoad(["lab"], clock=lambda: NOW)
    fleet.start()
    fleet.add_page("lab", page("lab", "1"), PageKind.LISTING)
    error = NetworkError("Connection reset.")
    fleet.console_done("lab", error)
    assert fleet.finish() is None
    assert fleet.progress().words == f"Load failed: {error} 1 device shown is PARTIAL. ctrl+r retries, q goes back."
    assert fleet.start() is True and len(fleet.inventory) == 0 and fleet.incoming is None


def test_pages_fetched_ahead_are_shown_not_counted_and_ignored_once_the_listing_is_done() -> None:
    fleet = FleetLoad(["lab"], clock=lambda: NOW)
    fleet.start()
    assert fleet.add_page("lab", page("lab", "9"), PageKind.AHEAD) is True
    assert fleet.consoles["lab"].loaded == 0 and len(fleet.inventory) == 1
    fleet.console_done("lab", None)
    assert fleet.add_page("lab", page("lab", "8"), PageKind.AHEAD) is False


def test_label_members_go_to_both_inventories_and_are_counted_apart() -> None:
    fleet = FleetLoad(["lab"], clock=lambda: NOW)
    fleet.start()
    fleet.add_page("lab", page("lab", "1"), PageKind.LISTING)
    fleet.console_done("lab", None)
    fleet.finish()
    fleet.start()  # a refresh runs while a label's members arrive

    class Labels:
        def label_ids(self, group_id: str) -> list[str]:
            return [group_id]

    label = Group(id="-1", name="All-Smartphones", path=("Labels", "All-Smartphones"))
    assert fleet.labels_wanted("lab", label, Labels()) == ["-1"]
    fleet.add_page("lab", page("lab", "1"), PageKind.LABELS)
    assert fleet.consoles["lab"].label_members == 1
    assert fleet.incoming is not None and len(fleet.incoming) == 1 and len(fleet.inventory) == 1
    assert fleet.labels_loaded("lab", ["-1"]) == {"-1"} and fleet.consoles["lab"].label_members is None
    assert fleet.labels_wanted("lab", label, Labels()) == []  # known now: not fetched again


async def test_each_demo_console_loads_completely_through_load_console() -> None:
    fleet, demo = await load_demo_consoles(40, labels=True)
    assert fleet.finish() is not None
    for name in demo.config.connections:
        assert fleet.consoles[name].loaded == 40 and fleet.groups[name]
    assert len(fleet.inventory) == sum(state.loaded for state in fleet.consoles.values())
    assert fleet.progress().words.count(" devices") == len(demo.config.connections)
