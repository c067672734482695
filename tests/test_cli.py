"""`epx devices` / `epx groups` in-process against the SEPM simulator over real HTTP (and TLS): the
documented record shapes in json, csv and table, the filters, and the exit codes with one-line,
secret-free messages on stderr."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import re
import socket
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import tomli_w
from rich.cells import cell_len

from tui.cli import main
from tui.cli_commands import DEVICE_COLUMNS, GROUP_COLUMNS, render_table
from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app
from tui.simulators.serve import ServerThread, make_test_tls

USERNAME = "api-reader"
PASSWORD = "Corr3ct-Horse-Battery!"
WRONG_PASSWORD = "Wr0ng-Staple-Guess?"
PASSWORD_ENV = "EPX_TEST_SEPM_PASSWORD"
FLEET_SIZE = 600  # more than one page of computers
DEVICE_KEYS = ["vendor", "connection", "id", "name", "os", "ip_addresses", "group", "online", "health",
               "missing_critical_patches", "last_seen", "state"]
GROUP_KEYS = ["id", "name", "path", "parent_id", "device_count"]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SERVERS = "My Company\\Servers"


@pytest.fixture(scope="module")
def http_server():
    """A 600-machine fleet with today's clock, so definitions ages are what the CLI's real clock sees."""
    simulator = SepmSimulator(SepmFleet(FLEET_SIZE, seed=3), username=USERNAME, password=PASSWORD)
    with ServerThread(create_app(simulator)) as running:
        yield running


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    tls, ca_path = make_test_tls("127.0.0.1", tmp_path_factory.mktemp("tls"))
    simulator = SepmSimulator(SepmFleet(40, seed=4), username=USERNAME, password=PASSWORD)
    with ServerThread(create_app(simulator), tls=tls) as running:
        yield running, ca_path


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv("EPX_CONFIG", raising=False)


def write_config(path: Path, **connections: dict) -> Path:
    profiles = {name: {"vendor": "sepm", "username": USERNAME, "password_env": PASSWORD_ENV, **values}
                for name, values in connections.items()}
    path.write_text(tomli_w.dumps({"connections": profiles}))
    return path


@pytest.fixture
def config(tmp_path, http_server) -> Path:
    return write_config(tmp_path / "config.toml", lab={"url": http_server.url, "allow_http": True})


def devices_json(epx, config: Path, *flags: str) -> list[dict]:
    code, out, err = epx("devices", "--config", str(config), "--connection", "lab", "--format", "json", *flags)
    assert (code, err) == (0, "")
    return json.loads(out)


def assert_one_line_error(err: str, *secrets: str) -> None:
    assert err.startswith("epx: ")
    assert err.endswith("\n") and err.count("\n") == 1
    for secret in secrets:
        assert secret not in err


# --- output formats ------------------------------------------------------------------------------------


def test_devices_json_has_the_documented_records(epx, config):
    records = devices_json(epx, config)

    assert len(records) == FLEET_SIZE
    assert len({record["id"] for record in records}) == FLEET_SIZE
    for record in records:
        assert list(record) == DEVICE_KEYS
        assert (record["vendor"], record["connection"]) == ("sepm", "lab")
        assert record["health"] in ("critical", "warning", "ok", "unknown")
        assert record["missing_critical_patches"] in (True, False, None)
        assert record["last_seen"] is None or ISO_UTC.match(record["last_seen"])
        assert isinstance(record["ip_addresses"], list) and record["ip_addresses"]
        assert isinstance(record["online"], bool)
        assert record["group"].startswith("My Company")
    assert {record["health"] for record in records} >= {"critical", "warning", "ok"}


def test_groups_json_has_the_documented_records(epx, config):
    code, out, err = epx("groups", "--config", str(config), "--connection", "lab", "--format", "json")

    assert (code, err) == (0, "")
    groups = json.loads(out)
    assert len(groups) == 20
    ids = {group["id"] for group in groups}
    by_path = {group["path"]: group for group in groups}
    for group in groups:
        assert list(group) == GROUP_KEYS
        assert group["name"] == group["path"].split("\\")[-1]
        parent_path = group["path"].rpartition("\\")[0]
        assert group["parent_id"] == (by_path[parent_path]["id"] if parent_path else None)
        assert group["parent_id"] is None or group["parent_id"] in ids
    assert sum(group["device_count"] for group in groups) == FLEET_SIZE


def test_devices_csv_matches_the_json(epx, config):
    """Same records as json; lists space-joined, booleans as true/false, null as empty."""
    records = {record["id"]: record for record in devices_json(epx, config)}

    code, out, err = epx("devices", "--config", str(config), "--connection", "lab", "--format", "csv")

    assert (code, err) == (0, "")
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert header == DEVICE_KEYS
    assert len(rows) == FLEET_SIZE
    for row in rows:
        line = dict(zip(header, row))
        record = records[line["id"]]
        assert line["name"] == record["name"]
        assert line["ip_addresses"] == " ".join(record["ip_addresses"])
        assert line["health"] == record["health"]
        assert line["online"] == ("true" if record["online"] else "false")
        expected_missing = {True: "true", False: "false", None: ""}[record["missing_critical_patches"]]
        assert line["missing_critical_patches"] == expected_missing
        assert line["last_seen"] == (record["last_seen"] or "")


def test_groups_csv_header_is_the_group_keys(epx, config):
    code, out, _ = epx("groups", "--config", str(config), "--connection", "lab", "--format", "csv")

    header, *rows = list(csv.reader(io.StringIO(out)))
    assert code == 0
    assert header == GROUP_KEYS
    assert SERVERS in [row[2] for row in rows]


def test_devices_table_has_a_header_and_one_line_per_device(epx, config):
    names = sorted(record["name"] for record in devices_json(epx, config))

    code, out, err = epx("devices", "--config", str(config), "--connection", "lab")  # table is the default

    assert (code, err) == (0, "")
    header, *lines = out.splitlines()
    assert len(lines) == FLEET_SIZE
    assert sorted(line.split()[0] for line in lines) == names  # the name comes first


# --- the table fits the terminal ------------------------------------------------------------------------


def on_a_terminal(monkeypatch, columns: int = 80) -> None:
    """Standard output is a terminal `columns` wide: a tty, and COLUMNS as `shutil` reads it. Called in the
    test itself: capsys puts its own standard output in place only once the fixtures are set up."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", str(columns))


def assert_fits(out: str, width: int = 80) -> None:
    too_wide = [line for line in out.splitlines() if cell_len(line) > width]
    assert not too_wide, too_wide[:3]


def test_a_pipe_gets_every_device_column_most_important_first(epx, config):
    """Not a terminal: every column, no cell cut (266 characters a line, and a 32-hex id first, before)."""
    code, out, err = epx("devices", "--config", str(config), "--connection", "lab")

    header, first, *_ = out.splitlines()
    assert (code, err) == (0, "")
    assert header.split() == DEVICE_COLUMNS
    assert "…" not in out
    assert re.fullmatch(r"online|never|\d+[smhd]", first.split()[2])  # last seen as an age


def test_the_device_table_fits_an_80_column_terminal(epx, config, monkeypatch):
    on_a_terminal(monkeypatch)

    code, out, err = epx("devices", "--config", str(config), "--connection", "lab")

    header, *lines = out.splitlines()
    assert (code, err) == (0, "")
    assert_fits(out)
    assert header.split()[:5] == ["name", "health", "seen", "patches", "ip"]
    assert "id" not in header.split() and "vendor" not in header.split()
    assert len(lines) == FLEET_SIZE


def test_wide_shows_every_device_column_on_a_terminal_too(epx, config, monkeypatch):
    on_a_terminal(monkeypatch)

    code, out, err = epx("devices", "--config", str(config), "--connection", "lab", "--wide")

    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == DEVICE_COLUMNS


def test_columns_set_wide_enough_shows_every_column(epx, config, monkeypatch):
    on_a_terminal(monkeypatch, columns=400)

    code, out, err = epx("devices", "--config", str(config), "--connection", "lab")

    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == DEVICE_COLUMNS


def test_the_group_table_fits_an_80_column_terminal(epx, config, monkeypatch):
    on_a_terminal(monkeypatch)

    code, out, err = epx("groups", "--config", str(config), "--connection", "lab")

    assert (code, err) == (0, "")
    assert_fits(out)
    assert out.splitlines()[0].split()[:2] == ["path", "device_count"]
    assert SERVERS in out


def test_a_pipe_gets_every_group_column(epx, config):
    code, out, err = epx("groups", "--config", str(config), "--connection", "lab")

    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == GROUP_COLUMNS


def test_a_narrow_table_cuts_by_terminal_cells_not_characters():
    """Wide (CJK) characters take two cells: a cut counts cells, and ends in "…"."""
    rows = [["東京サーバー第一データセンター", "critical", "3d", "missing", "10.0.0.1"],
            ["pc", "ok", "online", "ok", ""]]

    out = render_table(["name", "health", "seen", "patches", "ip"], rows, width=30, keep=4)

    assert_fits(out, 30)
    assert "…" in out.splitlines()[1] and out.splitlines()[0].split() == ["name", "health", "seen", "patches"]


def test_a_real_80_column_terminal():
    """Under a pseudo-terminal of 80 columns, no COLUMNS: the width is the terminal's own."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    environment = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([*EPX[:1], "devices", "--demo", "--demo-size", "200", "--connection", "demo-sepm"],
                               stdout=follower, stderr=subprocess.PIPE, env=environment)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0, process.stderr.read()
    out = b"".join(chunks).decode().replace("\r\n", "\n")
    assert_fits(out)
    assert out.splitlines()[0].split()[:4] == ["name", "health", "seen", "patches"]
    assert len(out.splitlines()) == 201


# --- filters --------------------------------------------------------------------------------------------


def in_subtree(record: dict, path: str) -> bool:
    return record["group"] == path or record["group"].startswith(path + "\\")


def test_critical_filter(epx, config):
    everything = devices_json(epx, config)

    critical = devices_json(epx, config, "--critical")

    assert critical == [record for record in everything if record["health"] == "critical"]
    assert 0 < len(critical) < FLEET_SIZE


def test_missing_patch_filter(epx, config):
    everything = devices_json(epx, config)

    missing = devices_json(epx, config, "--missing-patch")

    assert missing == [record for record in everything if record["missing_critical_patches"] is True]
    assert 0 < len(missing) < FLEET_SIZE


@pytest.mark.parametrize("spelling", [SERVERS, "My Company/Servers", "my company/servers/"])
def test_group_filter_keeps_the_subtree_whatever_the_separator(epx, config, spelling):
    everything = devices_json(epx, config)

    servers = devices_json(epx, config, "--group", spelling)

    assert servers == [record for record in everything if in_subtree(record, SERVERS)]
    assert len({record["group"] for record in servers}) >= 3  # several sub-groups, not just one level
    assert 0 < len(servers) < FLEET_SIZE


def test_a_group_that_does_not_exist_is_a_usage_error_naming_the_closest(epx, config):
    """"My Company\\Lap" is not the Laptops group: not an empty list but exit 2 and the names it could mean."""
    code, out, err = epx("devices", "--config", str(config), "--connection", "lab", "--group", "My Company\\Lap")

    assert (code, out) == (2, "")
    assert "No group named 'My Company\\Lap'" in err and "'My Company\\Laptops'" in err, err


def test_filters_combine(epx, config):
    everything = devices_json(epx, config)

    both = devices_json(epx, config, "--critical", "--missing-patch", "--group", "My Company")

    assert both == [record for record in everything
                    if record["health"] == "critical" and record["missing_critical_patches"] is True]


# --- connections ------------------------------------------------------------------------------------------


def test_https_with_a_ca_bundle(epx, tmp_path, tls_server):
    server, ca_path = tls_server
    config = write_config(tmp_path / "config.toml", tls={"url": server.url, "verify": str(ca_path)})

    code, out, err = epx("devices", "--config", str(config), "--connection", "tls", "--format", "json")

    assert (code, err) == (0, "")
    assert len(json.loads(out)) == 40


def test_https_untrusted_certificate_exits_4(epx, tmp_path, tls_server):
    server, _ = tls_server
    config = write_config(tmp_path / "config.toml", tls={"url": server.url})

    code, out, err = epx("groups", "--config", str(config), "--connection", "tls")

    assert (code, out) == (4, "")
    assert_one_line_error(err, PASSWORD)
    assert "certificate" in err


def test_demo_needs_no_config(epx, tmp_path, monkeypatch):
    monkeypatch.setenv("EPX_CONFIG", str(tmp_path / "absent.toml"))

    code, out, err = epx("devices", "--demo", "--connection", "demo-sepm", "--format", "json")

    assert (code, err) == (0, "")
    records = json.loads(out)
    assert len(records) == 500
    assert {record["connection"] for record in records} == {"demo-sepm"}
    assert not (tmp_path / "absent.toml").exists()


def test_global_options_before_the_subcommand_are_honoured(epx, config):
    """`epx --demo devices ...` and `epx --config PATH groups ...` must not lose the option."""
    code, out, err = epx("--demo", "devices", "--connection", "demo-sepm", "--format", "json")
    assert (code, err) == (0, "")
    assert len(json.loads(out)) == 500

    code, out, err = epx("--config", str(config), "groups", "--connection", "lab", "--format", "json")
    assert (code, err) == (0, "")
    assert len(json.loads(out)) == 20


# --- exit codes ----------------------------------------------------------------------------------------------


def test_a_saved_password_in_a_file_others_may_read_is_warned_on_stderr(epx, tmp_path, http_server):
    config = write_config(tmp_path / "config.toml", lab={"url": http_server.url, "allow_http": True})
    config.write_text(config.read_text().replace(f'password_env = "{PASSWORD_ENV}"', f'password = "{PASSWORD}"'))
    config.chmod(0o644)

    code, out, err = epx("groups", "--config", str(config), "--connection", "lab", "--format", "json")

    assert code == 0 and json.loads(out)
    assert_one_line_error(err, PASSWORD)
    assert f"{config} holds a password" in err and "mode 0644" in err and f"chmod 600 {config}" in err
    config.chmod(0o600)
    assert epx("groups", "--config", str(config), "--connection", "lab", "--format", "json")[2] == ""


def test_unknown_connection_exits_2_and_names_the_known_ones(epx, config):
    code, out, err = epx("devices", "--config", str(config), "--connection", "nope")

    assert (code, out) == (2, "")
    assert_one_line_error(err, PASSWORD)
    assert "'nope'" in err and "lab" in err


def test_corrupt_config_exits_2_and_is_left_untouched(epx, tmp_path):
    config = tmp_path / "config.toml"
    corrupt = f'[connections.lab]\nvendor = "sepm"\nurl = "http://127.0.0.1:1\npassword = "{PASSWORD}"\n'.encode()
    config.write_bytes(corrupt)

    code, out, err = epx("devices", "--config", str(config), "--connection", "lab")

    assert (code, out) == (2, "")
    assert_one_line_error(err, PASSWORD)
    assert str(config) in err and "line 3" in err
    assert config.read_bytes() == corrupt
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.toml"]


def test_missing_password_env_var_exits_2(epx, config, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV)

    code, out, err = epx("devices", "--config", str(config), "--connection", "lab")

    assert (code, out) == (2, "")
    assert_one_line_error(err)
    assert PASSWORD_ENV in err


@pytest.mark.parametrize("argv", [
    ["devices"],                                           # --connection is required
    ["devices", "--connection", "lab", "--format", "xml"],
    ["groups", "--connection", "lab", "--critical"],       # a devices-only flag
    ["export", "--connection", "lab"],                     # no such command
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)

    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: epx") and "error:" in err


@pytest.mark.parametrize("command", ["devices", "groups", "events", "fingerprints"])
def test_a_config_file_that_does_not_exist_is_said(epx, tmp_path, command):
    """Not "No connection named 'lab' (known: none)": the file named is not there."""
    missing = tmp_path / "nope.toml"

    code, out, err = epx(command, "--config", str(missing), "--connection", "lab")

    assert (code, out) == (2, "")
    assert_one_line_error(err)
    assert f"no config file at {missing}; create it with `epx --config {missing}` (the UI)" in err
    assert not missing.exists()


@pytest.mark.parametrize("argv", [[], ["devices"], ["groups"], ["events"], ["fingerprints"], ["simulate"]])
def test_help_lists_the_exit_codes_and_the_defaults(argv, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])

    out = capsys.readouterr().out
    assert caught.value.code == 0
    codes = out[out.index("exit codes:"):]
    for code in ("0", "2", "3", "4", "5", "6", "130", "141"):
        assert re.search(rf"^  {code} +\S", codes, re.MULTILINE), code
    if argv and argv != ["simulate"]:
        assert "(default: table)" in out and "--wide" in out
        assert re.search(r"--connection NAME +\S", out)  # said what it is, not a bare option


def test_wrong_password_exits_3_without_the_password(epx, config, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, WRONG_PASSWORD)

    code, out, err = epx("devices", "--config", str(config), "--connection", "lab")

    assert (code, out) == (3, "")
    assert_one_line_error(err, WRONG_PASSWORD, PASSWORD)
    assert "refused the credentials" in err


def test_a_trickling_answer_ends_at_request_timeout_and_exits_4(epx, tmp_path, monkeypatch):
    """`[settings] request_timeout` reaches the CLI's client: a body that trickles in fails like a network error."""
    simulator = SepmSimulator(SepmFleet(20, seed=4), username=USERNAME, password=PASSWORD)
    simulator.faults.add("slow-body", value=8, path="/sepm/api/v1/groups", times=None)
    monkeypatch.setattr("tui.vendors.base.BACKOFF_S", (0.01,))
    with ServerThread(create_app(simulator)) as running:
        config = write_config(tmp_path / "config.toml", lab={"url": running.url, "allow_http": True})
        config.write_text("[settings]\nrequest_timeout = 0.3\n\n" + config.read_text())

        code, out, err = epx("groups", "--config", str(config), "--connection", "lab")

    assert (code, out) == (4, "")
    *waits, last = err.splitlines()
    assert len(waits) == 3 and all("retrying" in line for line in waits)
    assert_one_line_error(last + "\n", PASSWORD)
    assert "did not finish answering within 0.3 s" in last


def test_dead_port_exits_4(epx, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(tmp_path / "config.toml", dead={"url": f"http://127.0.0.1:{port}", "allow_http": True})

    code, out, err = epx("groups", "--config", str(config), "--connection", "dead")

    assert (code, out) == (4, "")
    assert_one_line_error(err, PASSWORD)
    assert "Cannot connect" in err and str(port) in err


# --- output that cannot be written ---------------------------------------------------------------------------

EPX = [str(Path(sys.executable).with_name("epx")), "--demo", "--demo-size", "3000"]
"""The installed `epx` on the demo consoles: 3000 devices are far more CSV than a pipe's buffer holds."""


def test_a_reader_that_goes_away_ends_epx_quietly_with_141():
    """`epx devices ... | head -1` over a real pipe: no traceback, the status of a process killed by SIGPIPE."""
    with subprocess.Popen([*EPX, "devices", "--connection", "demo-sepm", "--format", "csv"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as epx:
        assert epx.stdout.readline().decode().startswith("vendor,connection,id,")
        epx.stdout.close()
        err = epx.stderr.read()
        assert epx.wait(timeout=60) == 141
    assert err == b""


def test_a_full_disk_on_standard_output_is_one_sentence_and_exit_6():
    with open("/dev/full", "w") as full:
        done = subprocess.run([*EPX, "groups", "--connection", "demo-sepm", "--format", "json"],
                              stdout=full, stderr=subprocess.PIPE, timeout=60, check=False)
    assert done.returncode == 6
    assert done.stderr.decode() == "epx: cannot write to standard output (No space left on device).\n"


def test_a_log_file_that_cannot_be_written_is_one_sentence_and_exit_6(epx):
    code, out, err = epx("groups", "--demo", "--connection", "demo-sepm", "--format", "json", "--log", "/dev/full")

    assert code == 6
    assert json.loads(out)  # the command itself ran
    assert err == "epx: cannot write the log file /dev/full (No space left on device); it is incomplete.\n"
