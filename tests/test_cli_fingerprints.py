"""`epx fingerprints` in-process against the SEPM simulator over real HTTP: the documented records in json,
csv and table, --name (remembered in the state file), --hash, and the exit codes: 5 on a vendor without
fingerprint lists, 2 for a bad hash, 4 for a list the console does not have."""

from __future__ import annotations

import csv
import io
import json
import socket
import stat
from pathlib import Path

import pytest
import tomli_w

from tui.cli import main
from tui.cli_commands import FINGERPRINT_FIELDS
from tui.simulators.sepm import DEMO_BLOCKLIST_NAME, DEMO_FILES, DEMO_PASSWORD, DEMO_USERNAME

PASSWORD_ENV = "EPX_TEST_SEPM_PASSWORD"
WHITELIST_ID = "20F543E30ADA144447A5FAAA370633DF"
BLACKLIST_ID = "B5F9985ED6C449A6905A0D570A5733FC"
BLACKLIST_MD5 = "582F9B6E0CC4C1DBBD772AAAF088CB3A"


@pytest.fixture(autouse=True)
def environment(monkeypatch, tmp_path):
    monkeypatch.setenv(PASSWORD_ENV, DEMO_PASSWORD)
    monkeypatch.delenv("EPX_CONFIG", raising=False)
    monkeypatch.delenv("EPX_STATE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
def state_path(tmp_path) -> Path:
    return tmp_path / "data" / "endpoint-explorer" / "state.json"


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def config(tmp_path, sepm_simulator) -> Path:
    _, url = sepm_simulator
    profiles = {
        "lab": {"vendor": "sepm", "url": url, "allow_http": True, "username": DEMO_USERNAME,
                "password_env": PASSWORD_ENV},
        "mdm": {"vendor": "epmm", "url": dead_url(), "allow_http": True, "username": "api"},
        "ws": {"vendor": "elements", "url": dead_url(), "allow_http": True, "username": "fusion_1"},
    }
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps({"connections": profiles}))
    return path


@pytest.fixture
def epx(capsys, config):
    """Run `epx fingerprints --config CONFIG ...` in-process; returns (exit code, stdout, stderr)."""

    def run(*argv: str, connection: str = "lab") -> tuple[int, str, str]:
        code = main(["fingerprints", "--config", str(config), "--connection", connection, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_named_lists_as_json_records(epx):
    code, out, err = epx("--name", "Whitelist", "--name", "blacklist", "--format", "json")

    assert (code, err) == (0, "")
    whitelist, blacklist = json.loads(out)
    for record in (whitelist, blacklist):
        assert list(record) == FINGERPRINT_FIELDS
        assert record["connection"] == "lab"
    assert (whitelist["id"], whitelist["hash_type"], whitelist["source"]) == (WHITELIST_ID, None, None)
    assert whitelist["hash_count"] == len(whitelist["hashes"]) == 11
    assert (blacklist["name"], blacklist["hashes"], blacklist["groups"]) == ("Blacklist", [BLACKLIST_MD5], [])


def test_groups_are_shown_by_path(epx):
    code, out, _ = epx("--name", DEMO_BLOCKLIST_NAME, "--format", "json")
    (record,) = json.loads(out)
    assert code == 0
    assert record["groups"] == ["My Company\\Quarantine"]


def test_csv_has_the_same_columns_and_space_joined_hashes(epx):
    code, out, _ = epx("--name", DEMO_BLOCKLIST_NAME, "--format", "csv")

    header, row = list(csv.reader(io.StringIO(out)))
    assert code == 0
    assert header == FINGERPRINT_FIELDS
    line = dict(zip(header, row))
    assert line["hashes"] == f"{DEMO_FILES[0].sha256} {DEMO_FILES[1].sha256}"
    assert (line["hash_count"], line["groups"]) == ("2", "My Company\\Quarantine")


def test_the_table_leaves_the_hashes_out(epx):
    code, out, _ = epx("--name", "Blacklist")

    header, line = out.splitlines()
    assert code == 0
    assert header.split() == ["name", "hash_count", "hash_type", "groups", "source", "description", "id", "connection"]
    assert BLACKLIST_ID in line and BLACKLIST_MD5 not in line


def test_opened_lists_are_remembered_for_the_next_run(epx, state_path):
    epx("--name", "Blacklist")
    epx("--name", "Whitelist")

    code, out, err = epx("--format", "json")

    assert (code, err) == (0, "")
    assert [record["name"] for record in json.loads(out)] == ["Whitelist", "Blacklist"]  # last opened first
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
    assert json.loads(state_path.read_text())["connections"]["lab"]["fingerprint_lists"][0]["id"] == WHITELIST_ID


def test_hash_keeps_the_lists_holding_it_in_any_case(epx):
    code, out, err = epx("--name", "Whitelist", "--name", "Blacklist", "--name", DEMO_BLOCKLIST_NAME,
                         "--hash", BLACKLIST_MD5.lower(), "--format", "json")
    assert (code, err) == (0, "")
    assert [record["name"] for record in json.loads(out)] == ["Blacklist"]

    code, out, err = epx("--name", "Whitelist", "--hash", DEMO_FILES[2].sha256, "--format", "json")
    assert (code, json.loads(out)) == (0, [])
    assert "is on none of the 1 lists searched" in err


def test_nothing_remembered_and_no_name_says_how_to_open_one(epx):
    code, out, err = epx("--format", "json")

    assert (code, json.loads(out)) == (0, [])
    assert "--name" in err and "cannot list them all" in err


def test_a_list_deleted_on_the_console_is_forgotten(epx, sepm_simulator, state_path):
    simulator, _ = sepm_simulator
    epx("--name", "Blacklist")
    epx("--name", "Whitelist")
    simulator.hash_actions.delete_list(BLACKLIST_ID)

    code, out, err = epx("--format", "json")

    assert code == 0
    assert [record["name"] for record in json.loads(out)] == ["Whitelist"]
    assert "'Blacklist'" in err and "no longer exists" in err
    remembered = json.loads(state_path.read_text())["connections"]["lab"]["fingerprint_lists"]
    assert [item["id"] for item in remembered] == [WHITELIST_ID]


def test_a_corrupt_state_file_is_reported_and_left_alone(epx, state_path):
    state_path.parent.mkdir(parents=True)
    state_path.write_text("{ not json")

    code, out, err = epx("--name", "Blacklist", "--format", "json")

    assert code == 0
    assert [record["name"] for record in json.loads(out)] == ["Blacklist"]
    assert "warning" in err and str(state_path) in err
    assert state_path.read_text() == "{ not json"


def test_a_missing_list_exits_4_in_one_line(epx):
    code, out, err = epx("--name", "Blacklist2")

    assert (code, out) == (4, "")
    assert err.startswith("epx: There is no fingerprint list named 'Blacklist2'") and err.count("\n") == 1
    assert DEMO_PASSWORD not in err


@pytest.mark.parametrize("bad", ["xyz", "582F9B6E0CC4C1DBBD772AAAF088CB3", "3c6250da5edf6b2e8d1a3930aa97a444bf3ba3de"])
def test_a_bad_hash_exits_2(epx, bad):
    code, out, err = epx("--hash", bad)

    assert (code, out) == (2, "")
    assert err.startswith("epx: --hash: ") and err.count("\n") == 1


@pytest.mark.parametrize(("connection", "vendor"), [("mdm", "Ivanti EPMM"), ("ws", "WithSecure Elements")])
def test_other_vendors_exit_5_without_asking_for_a_password(epx, connection, vendor):
    """No password source, a dead URL: the answer comes before any of that matters."""
    code, out, err = epx("--name", "Whitelist", connection=connection)

    assert (code, out) == (5, "")
    assert err.startswith(f"epx: Fingerprint lists are not available for {vendor}")
    assert f"connections such as {connection}: only SEPM has them." in err and err.count("\n") == 1


def test_demo_writes_no_state(capsys, tmp_path, state_path):
    code = main(["--demo", "fingerprints", "--connection", "demo-sepm", "--name", DEMO_BLOCKLIST_NAME,
                 "--format", "json"])
    out, err = capsys.readouterr()

    assert (code, err) == (0, "")
    assert json.loads(out)[0]["groups"] == ["My Company\\Quarantine"]
    assert not state_path.exists()
