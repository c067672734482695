"""The snapshot store (tui/snapshots.py): what a snapshot keeps and gives back, its file's privacy, a store that
is corrupt, locked, read-only or newer, two processes writing at once, and the schema's migrations."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from helpers import load_demo_consoles
from tui import snapshots as store_module
from tui.changes import changes_between
from tui.demo import build_demo
from tui.fleet_load import KeptFleet
from tui.models import Device, Group, Health, RawPage, ServerInfo
from tui.session import Session
from tui.snapshots import MIGRATIONS, SCHEMA_VERSION, SnapshotError, SnapshotStore

NOW = datetime(2026, 12, 5, 14, 2, tzinfo=UTC)


def device(id_: str, name: str = "", connection: str = "lab", **fields) -> Device:
    return Device(vendor="sepm", connection=connection, id=id_, name=name or f"host-{id_}", **fields)


def write(store: SnapshotStore, devices: list[Device], at: datetime = NOW, connection: str = "lab") -> int:
    return store.write(connection, "sepm", devices, [Group("g1", "Servers", ("My Company", "Servers"))],
                       ServerInfo("SEPM", "14.3"), {"g1"}, at)


async def demo_fleet(size: int = 30) -> tuple[KeptFleet, dict[str, str], str]:
    """A complete load of the demo's consoles (real mapped devices with raw pages), the vendors, a password."""
    fleet, demo = await load_demo_consoles(size, now=NOW)
    kept = fleet.finish()
    assert kept is not None
    password = demo.config.connections["demo-sepm"].password
    assert password
    return kept, {name: connection.vendor for name, connection in demo.config.connections.items()}, password


async def test_a_complete_load_comes_back_whole_raw_records_included_and_nothing_secret_is_kept(tmp_path) -> None:
    kept, vendors, password = await demo_fleet()
    path = tmp_path / "data" / "snapshots.sqlite3"
    store = SnapshotStore(path)
    assert len(store.write_kept(kept, vendors)) == 3
    store.close()
    opened = SnapshotStore(path).open_fleet(list(vendors))
    assert opened is not None
    again, rest = opened
    assert again.snapshot and again.loaded_at == NOW and len(again.inventory) == 30  # the first chunk: one console
    for chunk in rest:
        again.inventory.add(chunk)
    assert [d.to_json() for d in again.inventory.devices] == [d.to_json() for d in kept.inventory.devices]
    assert [(d.labels, d.health_reasons, d.group_id) for d in again.inventory.devices] == [
        (d.labels, d.health_reasons, d.group_id) for d in kept.inventory.devices]
    assert [d.raw for d in again.inventory.devices[::7]] == [d.raw for d in kept.inventory.devices[::7]]
    assert {name: [g.path for g in groups] for name, groups in again.groups.items()} == {
        name: [g.path for g in groups] for name, groups in kept.groups.items()}
    assert again.servers == kept.servers
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert password.encode() not in path.read_bytes()


def test_in_memory_records_without_a_body_keep_their_raw_record() -> None:
    store = SnapshotStore(None)
    raw = RawPage.of([{"computerName": "a", "n": 1}])
    write(store, [device("1", health=Health.CRITICAL, raw_page=raw, ip_addresses=("10.0.0.1",),
                         last_seen=NOW, online=True, missing_critical_patches=True, labels=("L",))])
    info = store.latest("lab")
    assert info is not None
    (again,) = store.read(info).devices
    assert again.raw == {"computerName": "a", "n": 1}
    assert (again.health, again.ip_addresses, again.last_seen, again.online, again.labels) == (
        Health.CRITICAL, ("10.0.0.1",), NOW, True, ("L",))


def test_latest_previous_listing_and_prune_which_never_forgets_a_connections_latest() -> None:
    store = SnapshotStore(None)
    first = write(store, [device("1")], NOW - timedelta(days=40))
    second = write(store, [device("1"), device("2")], NOW - timedelta(days=2))
    other = write(store, [device("9")], NOW - timedelta(days=50), connection="other")
    latest = store.latest("lab")
    assert latest is not None and latest.id == second and latest.devices == 2
    previous = store.previous(latest)
    assert previous is not None and previous.id == first
    old = store.latest("lab", at_or_before=NOW - timedelta(days=3))
    assert old is not None and old.id == first
    assert [info.id for info in store.listing()] == [second, first, other]
    assert store.prune(30, NOW) == 1  # "other" is 50 days old but its latest
    assert [info.id for info in store.listing()] == [second, other]


def test_a_refresh_every_minute_is_thinned_to_the_newest_two_then_one_an_hour_then_one_a_day() -> None:
    store = SnapshotStore(None)
    taken = [NOW - timedelta(days=3, minutes=minutes) for minutes in (0, 30)]  # two on one day, three days ago
    taken += [NOW - timedelta(minutes=minutes) for minutes in range(180, -1, -1)]  # every minute for three hours
    other = write(store, [device("9")], NOW - timedelta(minutes=5), connection="other")
    for moment in sorted(taken):
        write(store, [device("1")], moment)
        store.thin("lab", moment)
    kept = [info.taken_at for info in store.listing("lab")]
    assert kept[:2] == [NOW, NOW - timedelta(minutes=1)]  # the latest and the previous one, always
    hours = [moment for moment in kept[2:] if NOW - moment < timedelta(days=1)]
    assert hours == [NOW - timedelta(minutes=minutes) for minutes in (3, 63, 123)]  # the newest of 13h, 12h, 11h
    assert kept[-1] == NOW - timedelta(days=3)  # the newest of that day; its older sibling is gone
    assert len(kept) == 2 + 3 + 1
    assert [info.id for info in store.listing("other")] == [other]  # another connection is not touched


def test_an_empty_store_has_no_fleet_to_show() -> None:
    store = SnapshotStore(None)
    assert store.latest("lab") is None and store.open_fleet(["lab"]) is None
    write(store, [device("1")])
    assert store.open_fleet(["lab", "other"]) is None  # All fleets needs every console's snapshot
    assert store.open_fleet(["lab"], before=NOW) is None  # only older ones than the load shown


def test_a_corrupt_store_is_said_once_and_never_written(tmp_path) -> None:
    path = tmp_path / "snapshots.sqlite3"
    garbage = b"this is not a database, but someone's file" * 100
    path.write_bytes(garbage)
    store = SnapshotStore(path)
    with pytest.raises(SnapshotError) as first:
        write(store, [device("1")])
    assert "is damaged" in str(first.value) and str(path) in str(first.value) and not first.value.repeated
    with pytest.raises(SnapshotError) as second:
        store.latest("lab")
    assert second.value.repeated
    assert path.read_bytes() == garbage


def test_a_store_of_a_newer_schema_is_refused_untouched(tmp_path) -> None:
    path = tmp_path / "snapshots.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(SnapshotError, match="newer Endpoint Explorer"):
        SnapshotStore(path).latest("lab")
    assert path.read_bytes() == before


def connecting_with(monkeypatch, change) -> None:
    """The store's SQLite connections made as `change` says (a read-only open, a size limit): the failures a
    disk or a mount gives, reproducible as any user, root included."""
    connect = sqlite3.connect

    def changed(path, **options):
        return change(connect, path, **options)

    monkeypatch.setattr(store_module.sqlite3, "connect", changed)


def test_a_read_only_store_is_said(tmp_path, monkeypatch) -> None:
    path = tmp_path / "snapshots.sqlite3"
    write(SnapshotStore(path), [device("1")])
    connecting_with(monkeypatch, lambda connect, path, **options: connect(f"file:{path}?mode=ro", uri=True, **options))
    with pytest.raises(SnapshotError, match="is read-only"):
        write(SnapshotStore(path), [device("2")])


async def test_a_full_disk_is_said_once_by_the_session_and_loads_go_on_live(tmp_path, monkeypatch) -> None:
    path = tmp_path / "snapshots.sqlite3"
    write(SnapshotStore(path), [device("1")])

    def limited(connect, path, **options):
        db = connect(path, **options)
        db.execute("PRAGMA max_page_count = 8")
        return db

    connecting_with(monkeypatch, limited)
    kept, vendors, _ = await demo_fleet()
    session = Session(build_demo(1).config, snapshots=SnapshotStore(path))
    said = await session.write_snapshot(kept, vendors)
    assert said is not None and "the disk is full" in said and said.endswith("devices load live.")
    assert await session.write_snapshot(kept, vendors) is None  # said once
    with pytest.raises(SnapshotError) as again:
        session.snapshots.open_fleet(["lab"])
    assert session.snapshot_problem(again.value) is None


def test_a_locked_store_is_said_after_the_busy_timeout(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "snapshots.sqlite3"
    write(SnapshotStore(path), [device("1")])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(SnapshotError, match="locked by another program"):
            write(SnapshotStore(path), [device("2")])
    finally:
        holder.rollback()
        holder.close()


def _write_many(path: str, connection: str, count: int) -> None:
    store = SnapshotStore(Path(path))
    for number in range(count):
        write(store, [device(str(i), connection=connection) for i in range(200)], NOW + timedelta(seconds=number),
              connection=connection)


def test_two_processes_writing_at_once_lose_nothing(tmp_path) -> None:
    path = str(tmp_path / "snapshots.sqlite3")
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(path, name, 15)) for name in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    infos = SnapshotStore(Path(path)).listing()
    assert sorted((info.connection, info.devices) for info in infos) == [("a", 200)] * 15 + [("b", 200)] * 15


def test_a_version_1_store_is_migrated_and_keeps_its_snapshots(tmp_path, monkeypatch) -> None:
    path = tmp_path / "snapshots.sqlite3"
    with monkeypatch.context() as first_release:  # the store as version 1 wrote it
        first_release.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
        first_release.setattr(store_module, "SCHEMA_VERSION", 1)
        old = SnapshotStore(path)
        written = write(old, [device("1"), device("2")])
        old.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()
    store = SnapshotStore(path)
    info = store.latest("lab")
    assert info is not None and info.id == written and [d.id for d in store.read(info).devices] == ["1", "2"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'snapshots_by_connection'").fetchone()
    db.close()


def test_changes_read_from_the_facts_alone_are_those_of_the_whole_records() -> None:
    store = SnapshotStore(None)
    before = [device(str(n), online=n % 3 == 0, health=Health.OK if n % 4 else Health.CRITICAL,
                     missing_critical_patches=[None, False, True][n % 3], group=f"G{n % 5}") for n in range(5000)]
    after = [device(str(n), online=n % 2 == 0, health=Health.CRITICAL if n % 7 == 0 else Health.OK,
                    missing_critical_patches=[True, False, None][n % 3], group=f"G{n % 6}") for n in range(100, 5100)]
    write(store, before, NOW - timedelta(hours=1))
    write(store, after, NOW)
    newer = store.latest("lab")
    assert newer is not None
    older = store.previous(newer)
    assert older is not None
    from_facts = store.changes(older, newer)
    expected = changes_between(before, after)
    assert len(from_facts) > 1000
    assert [change.to_json() for change in from_facts] == [change.to_json() for change in expected]
