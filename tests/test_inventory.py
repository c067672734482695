"""The inventory's fast paths give exactly what `DeviceFilter.matches` says, in a stable sort order."""

from __future__ import annotations

import asyncio
import gc
import itertools
import weakref
from datetime import UTC, datetime, timedelta

import pytest

from helpers import FIXED_NOW
from tui.demo import build_demo
from tui.inventory import SORT_KEYS, DeviceFilter, Inventory, Sort
from tui.models import Device, Health
from tui.vendors import open_client


def load_demo_fleets(size: int) -> list[Device]:
    """Every demo console's devices, as the clients map them from the simulators."""
    demo = build_demo(size, now=FIXED_NOW)

    async def load() -> list[Device]:
        devices: list[Device] = []
        for name, connection in demo.config.connections.items():
            client = open_client(connection, connection.password, transport=demo.transports[name])
            async for page in client.devices():
                devices.extend(page.devices)
            await client.aclose()
        return devices

    return asyncio.run(load())


@pytest.fixture(scope="module")
def fleets() -> list[Device]:
    return load_demo_fleets(400)


FILTERS = [
    DeviceFilter(critical=critical, missing_patch=missing, online=online, text=text, connection=connection, group=group)
    for critical, missing, online in itertools.product((False, True), repeat=3)
    for text in ("", "srv", "!srv", "192.168", "WIN", "!")
    for connection, group in (("", ()), ("demo-sepm", ()), ("demo-sepm", ("My Company", "servers")),
                              ("demo-epmm", ("Labels", "iOS")), ("", ("my company",)))
]


def test_select_keeps_exactly_what_the_filter_means(fleets: list[Device]) -> None:
    inventory = Inventory()
    for start in range(0, len(fleets), 97):  # pages of an odd size, as they arrive
        inventory.add(fleets[start:start + 97])
    for wanted in FILTERS:
        expected = [row for row, device in enumerate(fleets) if wanted.matches(device)]
        selection = inventory.select(wanted)
        assert selection.rows == expected, wanted
        assert selection.critical == sum(fleets[row].health is Health.CRITICAL for row in expected)


def test_typing_on_narrows_the_previous_matches_and_deleting_widens_again(fleets: list[Device]) -> None:
    inventory = Inventory(fleets)
    for text in ("s", "sr", "srv", "srv-", "srv", "s", "", "!s", "!sr"):
        wanted = DeviceFilter(text=text)
        assert inventory.select(wanted).rows == [row for row, d in enumerate(fleets) if wanted.matches(d)], text


def test_a_filter_narrows_what_a_recent_one_kept_only_where_that_holds_every_match(fleets: list[Device]) -> None:
    """Flags switched on and off, text typed on and deleted, an exclusion extended and shortened, a scope changed:
    each answer is checked against `matches`, whichever recent filter it started from."""
    inventory = Inventory(fleets)
    steps = [DeviceFilter(critical=True), DeviceFilter(critical=True, online=True, text="s"),
             DeviceFilter(critical=True, online=True, text="sr"), DeviceFilter(online=True, text="sr"),
             DeviceFilter(text="!s"), DeviceFilter(text="!sr"), DeviceFilter(text="!srv"), DeviceFilter(text="!sr"),
             DeviceFilter(missing_patch=True, text="!sr"), DeviceFilter(missing_patch=True, text="!s"),
             DeviceFilter(missing_patch=True, text="!s", connection="demo-sepm"), DeviceFilter(text="!"),
             DeviceFilter(text="srv"), DeviceFilter(text="srv", group=("my company",))]
    for wanted in steps:
        expected = [row for row, device in enumerate(fleets) if wanted.matches(device)]
        assert inventory.select(wanted).rows == expected, wanted


def test_an_exclusion_typed_on_keeps_what_the_shorter_one_kept(fleets: list[Device]) -> None:
    """"!sr" after "!s" looks only at the rows "!s" left out; "!" alone excludes nothing and is no such start."""
    inventory = Inventory(fleets)
    for text in ("!", "!s", "!sr", "!srv", "!srv-", "!sr"):
        for flags in ({}, {"online": True}):
            wanted = DeviceFilter(text=text, **flags)
            assert inventory.select(wanted).rows == [row for row, d in enumerate(fleets) if wanted.matches(d)], wanted


@pytest.mark.parametrize("column", sorted(SORT_KEYS))
def test_each_direction_made_from_the_other_stays_stable(fleets: list[Device], column: str) -> None:
    inventory = Inventory(fleets)
    key = SORT_KEYS[column]
    for descending in (False, True, False):
        expected = sorted(range(len(fleets)), key=lambda row: key(fleets[row]), reverse=descending)
        assert inventory.select(DeviceFilter(), Sort(column, descending)).rows == expected


@pytest.mark.parametrize("column", sorted(SORT_KEYS))
@pytest.mark.parametrize("descending", [False, True])
def test_sorts_are_stable_in_both_directions(fleets: list[Device], column: str, descending: bool) -> None:
    inventory = Inventory(fleets)
    key = SORT_KEYS[column]
    expected = sorted(range(len(fleets)), key=lambda row: key(fleets[row]), reverse=descending)
    assert inventory.select(DeviceFilter(), Sort(column, descending)).rows == expected
    critical = [row for row in expected if fleets[row].health is Health.CRITICAL]
    assert inventory.select(DeviceFilter(critical=True), Sort(column, descending)).rows == critical
    some = [row for row in expected if "ws-fin" in fleets[row].name.casefold()]
    assert inventory.select(DeviceFilter(text="ws-fin"), Sort(column, descending)).rows == some


def test_a_cached_sort_stays_right_as_pages_arrive(fleets: list[Device]) -> None:
    inventory = Inventory(fleets[:100])
    assert inventory.select(DeviceFilter(), Sort("name")).rows  # caches the order
    inventory.add(fleets[100:])
    expected = sorted(range(len(fleets)), key=lambda row: fleets[row].name.casefold())
    assert inventory.select(DeviceFilter(), Sort("name")).rows == expected


def test_rows_shown_are_not_changed_by_the_pages_that_arrive_after(fleets: list[Device]) -> None:
    """A sort of every row hands out the inventory's own order (no copy): a page merges into a new one."""
    inventory = Inventory(fleets[:100])
    shown = inventory.select(DeviceFilter(), Sort("name")).rows
    before = list(shown)
    inventory.add(fleets[100:])
    assert shown == before
    assert len(inventory.select(DeviceFilter(), Sort("name")).rows) == len(fleets)


def device(number: int, **fields: object) -> Device:
    values: dict[str, object] = {"vendor": "sepm", "connection": "c", "id": f"id-{number}", "name": f"host-{number:03}",
                                 "group": "Top\\A"}
    values.update(fields)
    return Device(**values)  # type: ignore[arg-type]


def test_a_device_seen_again_replaces_its_row_and_its_groups() -> None:
    inventory = Inventory([device(1), device(2), device(3, group="Top\\B")])
    inventory.add([device(2, group="Top\\B", health=Health.CRITICAL)])
    assert len(inventory) == 3
    assert inventory.select(DeviceFilter(connection="c", group=("Top", "B"))).rows == [1, 2]
    assert inventory.select(DeviceFilter(connection="c", group=("Top", "A"))).rows == [0]
    assert inventory.select(DeviceFilter(critical=True)).rows == [1]
    assert len(inventory.members[("c", "top")]) == 3


def test_seen_order_puts_never_seen_first_and_online_last() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    devices = [
        device(1, online=True, last_seen=now),
        device(2, last_seen=now - timedelta(days=3)),
        device(3),
        device(4, last_seen=now - timedelta(hours=1)),
    ]
    assert Inventory(devices).select(DeviceFilter(), Sort("seen")).rows == [2, 1, 3, 0]


def test_addresses_sort_numerically_and_devices_without_one_last() -> None:
    devices = [device(1, ip_addresses=("10.0.0.10",)), device(2), device(3, ip_addresses=("10.0.0.9",)),
               device(4, ip_addresses=("fe80::1",))]
    assert Inventory(devices).select(DeviceFilter(), Sort("ip")).rows == [2, 0, 3, 1]


def test_the_quick_address_key_orders_as_ipaddress_does() -> None:
    """Only what `ipaddress` accepts is an address (not a quad with a leading zero); other text sorts after
    the devices without an address, by its bytes."""
    texts = ["10.0.0.9", "010.0.0.1", "fe80::1", "zz", "255.255.255.255", "1.2.3", "::ffff:1.2.3.4", "0.0.0.0"]
    devices = [device(number, ip_addresses=(text,)) for number, text in enumerate(texts)] + [device(99)]
    assert Inventory(devices).select(DeviceFilter(), Sort("ip")).rows == [7, 0, 4, 6, 2, 8, 1, 5, 3]


def test_widths_track_the_longest_values() -> None:
    inventory = Inventory([device(1, name="short"), device(2, name="a-much-longer-name", os="Windows 11")])
    assert inventory.widths["name"] == len("a-much-longer-name")
    assert inventory.widths["os"] == len("Windows 11")
    assert inventory.widths["connection"] == len("c")
    inventory.add([device(3, os="Windows 11", user="al"), device(4, connection="console-b", group="Top\\Longer")])
    assert inventory.widths == {"name": len("a-much-longer-name"), "os": len("Windows 11"), "user": len("al"),
                                "group": len("Top\\Longer"), "connection": len("console-b")}


def test_repeated_values_are_kept_once_whether_or_not_they_came_shared() -> None:
    """Each page's JSON brings an OS as a new string; a vendor may already share a group's path."""
    group = "Top\\A"
    devices = [device(number, os="".join(["Windows ", "11"]), group=group) for number in range(3)]
    assert devices[0].os is not devices[1].os
    inventory = Inventory(devices[:2])
    inventory.add(devices[2:])
    assert len({id(device.os) for device in inventory.devices}) == 1
    assert all(device.group is group for device in inventory.devices)


def test_a_large_inventory_prepared_is_frozen_again_each_time_it_has_grown_by_an_eighth(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Frozen, the devices are out of every full collection; frozen when an idle moment prepares the inventory,
    after its search keys, once it holds FREEZE_FROM devices, and after a new sort order."""
    frozen: list[int] = []
    thawed: list[int] = []
    inventory = Inventory()
    monkeypatch.setattr("tui.inventory.FREEZE_FROM", 16)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(len(inventory)))
    monkeypatch.setattr(gc, "unfreeze", lambda: thawed.append(len(inventory)))
    for number in range(40):
        inventory.add([device(number)])
        assert not inventory.prepared  # the new device's search key
        inventory.prepare(1)
        assert inventory.prepared
    assert frozen == [16, 18, 20, 22, 24, 27, 30, 33, 37]
    assert thawed == [16]  # its first freeze takes back what earlier inventories' freezes kept of the dead
    inventory.add([device(0, name="seen again")])
    assert inventory.prepared
    inventory.select(DeviceFilter(), Sort("name"))  # a new order of every row: frozen too
    assert not inventory.prepared
    inventory.prepare(0)
    assert inventory.prepared and frozen[-1] == 40


def test_what_a_freeze_kept_and_later_died_in_a_cycle_is_taken_back_at_the_next_inventorys_first_freeze(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A details screen open while a refresh's inventory is frozen dies in a cycle once closed; frozen, the collector
    never looks at it, until the next inventory's first freeze thaws everything and collects."""

    class Screen:
        def __init__(self) -> None:
            self.itself = self  # a cycle, as widgets and their parents make

    monkeypatch.setattr("tui.inventory.FREEZE_FROM", 4)
    screen = Screen()
    closed = weakref.ref(screen)
    try:
        Inventory([device(number) for number in range(5)]).prepare(5)
        del screen
        gc.collect()
        assert closed() is not None
        Inventory([device(number) for number in range(5)]).prepare(5)
        assert closed() is None
    finally:
        gc.unfreeze()


def test_search_keys_are_made_when_first_asked_for() -> None:
    """Building an inventory makes no search key (its first rows do not wait for them); a device seen again gets
    a new key only if its row had one, and a text filter finds it by its new text either way."""
    inventory = Inventory([device(1), device(2), device(3)])
    assert not inventory.prepared
    inventory.prepare(1)
    inventory.add([device(1, name="renamed-1"), device(2, name="renamed-2")])
    assert not inventory.prepared
    assert inventory.select(DeviceFilter(text="renamed")).rows == [0, 1]
    assert inventory.prepared
