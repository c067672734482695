"""`epx devices --offline/--max-age`, `epx snapshots list|prune`, `epx changes` and `epx coverage`: what a
complete load keeps, and what is answered from it without a console."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomli_w

from tui.models import Device, Health
from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app
from tui.simulators.serve import ServerThread
from tui.snapshots import SnapshotStore

USERNAME, PASSWORD, PASSWORD_ENV = "api-reader", "Corr3ct-Horse-Battery!", "EPX_TEST_SEPM_PASSWORD"


@pytest.fixture(scope="module")
def http_server():
    simulator = SepmSimulator(SepmFleet(150, seed=3), username=USERNAME, password=PASSWORD)
    with ServerThread(create_app(simulator)) as running:
        yield running


@pytest.fixture
def config(tmp_path, http_server, monkeypatch) -> Path:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    path = tmp_path / "config.toml"
    profile = {"vendor": "sepm", "username": USERNAME, "password_env": PASSWORD_ENV, "url": http_server.url,
               "allow_http": True}
    path.write_text(tomli_w.dumps({"settings": {"keep_snapshots": 7}, "connections": {"lab": profile, "mirror": profile}}))
    return path


@pytest.fixture
def store(private_snapshot_store) -> SnapshotStore:
    return SnapshotStore(private_snapshot_store)


def device(id_: str, name: str = "", connection: str = "lab", **fields) -> Device:
    return Device(vendor="sepm", connection=connection, id=id_, name=name or f"host-{id_}", **fields)


# --- snapshots and --offline ---------------------------------------------------------------------------------


def test_a_complete_load_is_kept_and_read_back_offline_with_the_same_records(epx, config, store) -> None:
    code, live, err = epx("devices", "--config", str(config), "--connection", "lab", "--format", "json")
    assert (code, err) == (0, "")
    code, offline, err = epx("devices", "--offline", "--connection", "lab", "--format", "json")
    assert code == 0 and json.loads(offline) == json.loads(live)
    assert err.startswith("epx: note: snapshot of lab from ") and err.endswith(" ago).\n")
    code, critical, _ = epx("devices", "--offline", "--connection", "lab", "--format", "json", "--critical")
    assert json.loads(critical) == [record for record in json.loads(live) if record["health"] == "critical"]
    assert PASSWORD.encode() not in store.path.read_bytes()


def test_a_filtered_load_is_not_a_complete_one_and_is_not_kept(epx, config, store) -> None:
    assert epx("devices", "--config", str(config), "--connection", "lab", "--critical")[0] == 0
    assert store.listing() == []


def test_offline_without_a_snapshot_or_with_one_older_than_max_age_exits_4(epx, store) -> None:
    code, out, err = epx("devices", "--offline", "--connection", "lab")
    assert (code, out) == (4, "") and err.startswith("epx: No snapshot of 'lab' in ") and err.count("\n") == 1
    store.write("lab", "sepm", [device("1")], [], None, (), datetime.now(UTC) - timedelta(hours=2))
    code, out, err = epx("devices", "--offline", "--max-age", "1h", "--connection", "lab")
    assert (code, out) == (4, "") and "older than --max-age 1h" in err
    code, out, _ = epx("devices", "--offline", "--max-age", "3h", "--connection", "lab", "--format", "json")
    assert code == 0 and [record["id"] for record in json.loads(out)] == ["1"]


def test_max_age_needs_offline_and_a_duration(epx) -> None:
    assert epx("devices", "--max-age", "1h", "--connection", "lab")[0] == 2
    code, _, err = epx("devices", "--offline", "--max-age", "soon", "--connection", "lab")
    assert code == 2 and "not a duration" in err


def test_snapshots_list_and_prune_with_the_keep_snapshots_setting(epx, config, store) -> None:
    now = datetime.now(UTC)
    store.write("lab", "sepm", [device("1")], [], None, (), now - timedelta(days=10))
    store.write("lab", "sepm", [device("1"), device("2")], [], None, (), now - timedelta(hours=1))
    code, out, _ = epx("snapshots", "list", "--format", "json")
    listed = json.loads(out)
    assert code == 0 and [(r["connection"], r["devices"]) for r in listed] == [("lab", 2), ("lab", 1)]
    assert all(r["size"] > 0 for r in listed)
    code, out, _ = epx("snapshots", "list")
    assert code == 0 and out.splitlines()[0].split()[:4] == ["connection", "taken_at", "age", "devices"]
    code, out, _ = epx("snapshots", "prune", "--config", str(config))  # keep_snapshots = 7
    assert (code, out) == (0, "Forgot 1 snapshot older than 7 days.\n")
    assert [info.devices for info in store.listing()] == [2]


# --- changes -------------------------------------------------------------------------------------------------


def test_changes_between_the_latest_snapshot_and_an_earlier_one(epx, store) -> None:
    now = datetime.now(UTC)
    store.write("lab", "sepm", [
        device("1", online=True), device("2", health=Health.OK), device("3", missing_critical_patches=False),
        device("4", group="A"), device("5")], [], None, (), now - timedelta(days=2))
    store.write("lab", "sepm", [device("1")], [], None, (), now - timedelta(hours=5))
    store.write("lab", "sepm", [
        device("1", online=False), device("2", health=Health.CRITICAL), device("3", missing_critical_patches=True),
        device("4", group="B"), device("6")], [], None, (), now)
    code, out, err = epx("changes", "--connection", "lab", "--since", "24h", "--format", "json")
    assert code == 0 and "changes of lab from " in err
    assert [(r["change"], r["id"], r["before"], r["after"]) for r in json.loads(out)] == [
        ("critical", "2", "ok", "critical"), ("missing_patch", "3", "no", "yes"), ("appeared", "6", None, None),
        ("disappeared", "5", None, None), ("offline", "1", "online", "offline"), ("moved", "4", "A", "B")]
    code, out, _ = epx("changes", "--connection", "lab", "--format", "csv", "--change", "appeared")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [(r["change"], r["id"]) for r in rows] == [
        ("appeared", "2"), ("appeared", "3"), ("appeared", "4"), ("appeared", "6")]  # since the 5 h old one
    code, out, _ = epx("changes", "--connection", "lab", "--since", "24h", "--critical")
    assert code == 0 and out.splitlines()[1].startswith("became critical  host-2")


def test_changes_with_one_snapshot_or_none_exits_4(epx, store) -> None:
    assert epx("changes", "--connection", "lab")[0] == 4
    store.write("lab", "sepm", [device("1")], [], None, (), datetime.now(UTC))
    code, _, err = epx("changes", "--connection", "lab", "--since", "1h")
    assert code == 4 and "nothing to compare" in err


# --- coverage ------------------------------------------------------------------------------------------------


def test_coverage_offline_matches_host_names_across_connections(epx, store) -> None:
    now = datetime.now(UTC)
    store.write("sepm", "sepm", [device("1", "WS-001.corp.example", "sepm"), device("2", "ws-002", "sepm")],
                [], None, (), now)
    store.write("elements", "elements", [device("a", "ws-001", "elements"), device("b", "srv-9", "elements")],
                [], None, (), now)
    code, out, _ = epx("coverage", "--offline", "--format", "json")
    assert code == 0
    assert [(r["machine"], r["consoles"], r["missing"]) for r in json.loads(out)] == [
        ("srv-9", ["elements"], ["sepm"]), ("ws-001", ["elements", "sepm"], []),
        ("ws-002", ["sepm"], ["elements"])]
    code, out, _ = epx("coverage", "--offline", "--missing-from", "elements", "--format", "csv")
    assert [r["machine"] for r in csv.DictReader(io.StringIO(out))] == ["ws-002"]
    code, out, _ = epx("coverage", "--offline", "--only-one", "--format", "json")
    assert [r["machine"] for r in json.loads(out)] == ["srv-9", "ws-002"]
    assert epx("coverage", "--offline", "--missing-from", "nowhere")[0] == 2


def test_coverage_live_loads_every_connection_and_keeps_their_snapshots(epx, config, store) -> None:
    code, out, err = epx("coverage", "--config", str(config), "--format", "json")
    assert (code, err) == (0, "")
    machines = json.loads(out)
    assert machines and all(r["consoles"] == ["lab", "mirror"] for r in machines)  # one console, two profiles
    assert sorted(info.connection for info in store.listing()) == ["lab", "mirror"]


def test_the_demo_answers_from_a_past_and_a_present_of_its_own_and_writes_nothing(epx, store) -> None:
    code, out, _ = epx("--demo", "changes", "--connection", "demo-sepm", "--format", "json")
    assert code == 0
    assert {record["change"] for record in json.loads(out)} == {
        "critical", "missing_patch", "appeared", "disappeared", "offline", "moved"}
    code, out, _ = epx("--demo", "coverage", "--offline", "--missing-from", "demo-elements", "--format", "json")
    assert code == 0 and json.loads(out) and all("demo-elements" in r["missing"] for r in json.loads(out))
    assert store.listing() == []  # the user's store is untouched
