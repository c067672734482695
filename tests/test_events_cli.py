"""`epx events` in-process against the simulators over real HTTP (and TLS): the documented record in json,
csv and a table, windows written as durations or RFC 3339 times with offsets, the filters, notes on stderr,
and the exit codes with one-line messages (2 for a bad window, 5 for a source this API user may not read)."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomli_w
from rich.cells import cell_len

from tui.cli import main
from tui.cli_commands import EVENT_COLUMNS, EVENT_FIELDS
from tui.simulators.elements import ElementsFleet, ElementsSimulator
from tui.simulators.elements import create_app as elements_app
from tui.simulators.epmm import NO_LOGS_USERNAME, EpmmFleet, EpmmSimulator
from tui.simulators.epmm import create_app as epmm_app
from tui.simulators.sepm import SepmFleet, SepmSimulator, sepm_event_log
from tui.simulators.sepm import create_app as sepm_app
from tui.simulators.serve import ServerThread

USERNAME = "api-reader"
PASSWORD = "Corr3ct-Horse-Battery!"
CLIENT_ID = "fusion_0a1b2c3d4e5f60718293"
PASSWORD_ENV = "EPX_TEST_EVENTS_SECRET"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FIXED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sepm():
    """A SEPM whose clock is the real one, so "7d" means the same to the CLI and to the fleet."""
    simulator = SepmSimulator(SepmFleet(300, seed=3), username=USERNAME, password=PASSWORD)
    with ServerThread(sepm_app(simulator)) as running:
        yield simulator, running.url


@pytest.fixture(scope="module")
def elements(tls_files):
    """An Elements partner over TLS whose clock is fixed: windows are given as RFC 3339 times."""
    simulator = ElementsSimulator(ElementsFleet(500, seed=9, now=FIXED), client_id=CLIENT_ID, client_secret=PASSWORD)
    with ServerThread(elements_app(simulator), tls=tls_files[0]) as running:
        yield simulator, running.url


@pytest.fixture(scope="module")
def epmm():
    """An EPMM whose clock is the real one; its audit log follows its fleet."""
    simulator = EpmmSimulator(EpmmFleet(200, seed=5), username=USERNAME, password=PASSWORD)
    with ServerThread(epmm_app(simulator)) as running:
        yield simulator, running.url


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv("EPX_CONFIG", raising=False)


@pytest.fixture
def config(tmp_path, sepm, elements, epmm, tls_files) -> Path:
    profiles = {
        "lab": {"vendor": "sepm", "url": sepm[1], "allow_http": True, "username": USERNAME,
                "password_env": PASSWORD_ENV},
        "partner": {"vendor": "elements", "url": elements[1], "verify": str(tls_files[1]), "username": CLIENT_ID,
                    "password_env": PASSWORD_ENV},
        "mdm": {"vendor": "epmm", "url": epmm[1], "allow_http": True, "username": USERNAME,
                "password_env": PASSWORD_ENV},
        "mdm-viewer": {"vendor": "epmm", "url": epmm[1], "allow_http": True, "username": NO_LOGS_USERNAME,
                       "password_env": PASSWORD_ENV},
    }
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps({"connections": profiles}))
    return path


@pytest.fixture
def epx(capsys, config):
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["events", "--config", str(config), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def stamp(moment: datetime) -> datetime:
    return datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if isinstance(moment, str) else moment


def test_json_records_newest_first_in_the_window(epx):
    started = datetime.now(UTC).replace(microsecond=0)
    code, out, err = epx("--connection", "lab", "--since", "7d", "--format", "json")
    assert code == 0, err
    records = json.loads(out)
    assert records and all(list(record) == EVENT_FIELDS for record in records)
    assert all(ISO_UTC.match(record["time"]) for record in records)
    times = [stamp(record["time"]) for record in records]
    assert times == sorted(times, reverse=True)
    assert all(started - timedelta(days=7, seconds=1) <= moment <= datetime.now(UTC) for moment in times)
    assert {record["vendor"] for record in records} == {"sepm"} and {record["connection"] for record in records} == {
        "lab"}
    assert {record["engine"] for record in records} == {"notification", "command"}
    assert all(record["severity"] in ("critical", "warning", "info", "unknown") for record in records)


def test_csv_has_the_same_records(epx):
    _, out_json, _ = epx("--connection", "lab", "--since", "7d", "--format", "json", "--until", "1m")
    code, out_csv, _ = epx("--connection", "lab", "--since", "7d", "--format", "csv", "--until", "1m")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out_csv)))
    assert rows[0] == EVENT_FIELDS
    records = json.loads(out_json)
    assert len(rows) - 1 == len(records)
    for row, record in zip(rows[1:], records, strict=True):
        assert row[EVENT_FIELDS.index("id")] == record["id"]
        assert row[EVENT_FIELDS.index("message")] == record["message"]  # line breaks survive the quoting
    assert any("\n" in record["message"] for record in records)


def test_the_table_is_for_people(epx):
    """In a pipe, every column but the message (often several lines), the most important first."""
    code, out, _ = epx("--connection", "lab", "--since", "24h")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == EVENT_COLUMNS
    assert EVENT_COLUMNS[:4] == ["time", "severity", "device", "title"] and "message" not in EVENT_COLUMNS
    assert len(lines) > 1


def test_the_table_fits_an_80_column_terminal(epx, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # in the test: capsys is in place only now
    monkeypatch.setenv("COLUMNS", "80")

    window = ("--since", "2025-05-01T00:00:00Z", "--until", "2025-06-01T12:00:00Z")
    code, out, err = epx("--connection", "partner", *window)

    lines = out.splitlines()
    assert code == 0, err
    assert [line for line in lines if cell_len(line) > 80] == []
    assert lines[0].split() == ["time", "severity", "device", "title"] and len(lines) > 1
    assert ISO_UTC.match(lines[1].split()[0])

    code, out, err = epx("--connection", "partner", *window, "--wide")
    assert out.splitlines()[0].split() == EVENT_COLUMNS


def test_rfc3339_bounds_with_offsets_and_filters(epx, elements):
    simulator = elements[0]
    company = simulator.fleet.companies[1]
    code, out, err = epx("--connection", "partner", "--since", "2025-05-25T02:00:00+02:00",
                         "--until", "2025-05-31T19:00:00-05:00", "--severity", "critical,warning", "--engine", "epp",
                         "--organization", company["id"], "--format", "json")
    assert code == 0, err
    records = json.loads(out)
    assert records
    for record in records:
        assert datetime(2025, 5, 25, 0, 0, tzinfo=UTC) <= stamp(record["time"]) < datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
        assert record["severity"] in ("critical", "warning") and record["category"] == "epp"
        assert record["organization"] == company["name"] and record["source"] == "security-events"


def test_one_device(epx):
    _, out, _ = epx("--connection", "partner", "--since", "2025-05-02T12:00:00Z", "--until", "2025-06-01T12:00:00Z",
                    "--format", "json")
    device = json.loads(out)[0]["device_name"]
    code, out, _ = epx("--connection", "partner", "--since", "2025-05-02T12:00:00Z", "--until",
                       "2025-06-01T12:00:00Z", "--device", device.lower(), "--format", "json")
    assert code == 0 and {record["device_name"] for record in json.loads(out)} == {device}
    device_id = json.loads(out)[0]["device_id"]
    code, by_id, _ = epx("--connection", "partner", "--since", "2025-05-02T12:00:00Z", "--until",
                         "2025-06-01T12:00:00Z", "--device", device_id, "--format", "json")
    assert code == 0 and json.loads(by_id) == json.loads(out)


def test_notes_go_to_stderr_and_the_rest_still_comes(epx, sepm):
    log = sepm_event_log(sepm[0])
    log.history = "missing"
    try:
        code, out, err = epx("--connection", "lab", "--since", "7d", "--format", "json")
    finally:
        log.history = "available"
    assert code == 0 and json.loads(out)
    assert err.startswith("epx: note: The SEPM command history is not available on this console")


@pytest.mark.parametrize(("argv", "words"), [
    (("--since", "yesterday"), "epx: --since: 'yesterday' is neither a duration"),
    (("--since", "2025-06-01T10:00:00"), "has no time zone: add Z for UTC or an offset"),
    (("--since", "1h", "--until", "2h"), "is after --until"),
    (("--until", "soon"), "epx: --until:"),
    (("--severity", "high"), "epx: --severity: 'high' is not one of critical, warning, info, unknown."),
    (("--organization", "e4bd56b0-90b4-4878-962f-903ea862a977"),
     "--organization applies to Elements connections only."),
])
def test_usage_errors_exit_2(epx, argv, words):
    code, out, err = epx("--connection", "lab", *argv)
    assert code == 2 and out == ""
    assert words in err and err.count("\n") == 1


def test_an_unknown_connection_exits_2(epx):
    code, _, err = epx("--connection", "nope")
    assert code == 2 and "No connection named 'nope'" in err


def test_epmm_events_are_its_audit_log(epx):
    code, out, err = epx("--connection", "mdm", "--since", "30d", "--format", "json")
    assert code == 0, err
    records = json.loads(out)
    assert records and {record["source"] for record in records} == {"audit-logs"}
    assert {record["category"] for record in records} == {"audit"}
    assert all(ISO_UTC.match(record["time"]) and record["device_id"] for record in records)


def test_an_epmm_user_without_the_logs_role_exit_5_naming_it(epx, epmm):
    code, out, err = epx("--connection", "mdm-viewer", "--format", "json")
    assert code == 5 and out == ""
    assert "View logs and events" in err and PASSWORD not in err


def test_a_user_without_the_right_exit_5(epx, sepm):
    log = sepm_event_log(sepm[0])
    log.critical_readable = False
    try:
        code, out, err = epx("--connection", "lab")
    finally:
        log.critical_readable = True
    assert code == 5 and out == ""
    assert "is not available to this API user" in err and PASSWORD not in err


def test_demo_events(capsys):
    code = main(["--demo", "events", "--connection", "demo-elements", "--since", "24h", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    records = json.loads(out)
    assert records and {record["connection"] for record in records} == {"demo-elements"}
