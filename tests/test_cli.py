"""`epx devices` / `epx groups` in-process against the SEPM simulator over real HTTP (and TLS): the
documented record shapes in json, csv and table, the filters, and the exit codes with one-line,
secret-free messages on stderr."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from tui.cli import main
from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app
from tui.simulators.serve import ServerThread, make_test_tls

USERNAME = "api-reader"
PASSWORD = "Corr3ct-Horse-Battery!"
WRONG_PASSWORD = "Wr0ng-Staple-Guess?"
PASSWORD_ENV = "EPX_TEST_SEPM_PASSWORD"
FLEET_SIZE = 600  # more than one page of computers
DEVICE_KEYS = ["vendor", "connection", "id", "name", "os", "ip_addresses", "group", "online", "health",
               "missing_critical_patches", "last_seen"]
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


@pytest.fixture
def epx(capsys):
    """Run `epx` in-process; returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


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
    assert header.split() == DEVICE_KEYS
    assert len(lines) == FLEET_SIZE
    assert sorted(line.split()[3] for line in lines) == names  # 4th column: vendor, connection, id, name


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
    assert "No group named 'My Company\\\\Lap'" in err and "'My Company\\\\Laptops'" in err, err


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
