"""`epx respond` and `epx actions` (issue 18) against the demo consoles: the read-only gate first, no action
without --yes off a terminal, JSON per device, exit 7 when any device failed, the actions log."""

from __future__ import annotations

import io
import json

import pytest

from tui.cli import main
from tui.cli_commands import EXIT_REFUSED

DEMO = ("--demo", "--demo-size", "60")


@pytest.fixture
def epx(capsys, tmp_path, monkeypatch):
    """Run `epx` in-process with the actions log in a temporary file and a standard input that is no tty."""
    monkeypatch.setenv("EPX_ACTIONS_LOG", str(tmp_path / "actions.jsonl"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    run.log = tmp_path / "actions.jsonl"
    return run


def device_ids(epx, connection: str, keep=lambda record: True) -> list[dict]:
    code, out, _ = epx("devices", *DEMO, "--connection", connection, "--format", "json")
    assert code == 0
    return [record for record in json.loads(out) if keep(record)]


def test_read_only_gate_comes_first_and_nothing_is_logged(epx) -> None:
    code, out, err = epx("respond", *DEMO, "--connection", "demo-elements", "--action", "isolate",
                         "--filter", "critical")
    assert code == 2 and out == "" and "read-only" in err and "--demo-writes" in err
    assert not epx.log.exists()


def test_no_action_without_yes_off_a_terminal(epx) -> None:
    code, out, err = epx("respond", *DEMO, "--demo-writes", "--connection", "demo-sepm", "--action", "scan",
                         "--filter", "critical")
    assert code == 2 and out == "" and "--yes" in err and "nothing was sent" in err
    assert not epx.log.exists()


def test_a_vendor_without_the_action_is_unavailable(epx) -> None:
    code, _, err = epx("respond", *DEMO, "--demo-writes", "--connection", "demo-epmm", "--action", "isolate",
                       "--filter", "critical", "--yes")
    assert code == 5 and "actions offered: message" in err


def test_unknown_device_sends_nothing(epx) -> None:
    code, _, err = epx("respond", *DEMO, "--demo-writes", "--connection", "demo-sepm", "--action", "scan",
                       "--device", "NOPE", "--yes")
    assert code == 2 and "No device 'NOPE'" in err
    assert not epx.log.exists()


def test_sepm_quarantine_json_per_device_and_the_log(epx) -> None:
    chosen = device_ids(epx, "demo-sepm")[:2]
    code, out, err = epx("respond", *DEMO, "--demo-writes", "--connection", "demo-sepm", "--action", "quarantine",
                         *(flag for record in chosen for flag in ("--device", record["id"])), "--yes", "--no-follow")
    assert code == 0, err
    results = json.loads(out)
    assert [result["device_id"] for result in results] == [record["id"] for record in chosen]
    assert all(result["accepted"] and result["reference"] and result["action"] == "quarantine" for result in results)
    code, out, _ = epx("actions", "--format", "json")
    (entry,) = json.loads(out)
    assert entry["connection"] == "demo-sepm" and entry["action"] == "quarantine" and entry["operator"]
    assert [result["device_id"] for result in entry["results"]] == [record["id"] for record in chosen]
    assert "demo-password" not in epx.log.read_text()
    code, out, _ = epx("actions")
    assert code == 0 and "quarantine" in out and "demo-sepm" in out


def test_every_device_refused_is_a_failure(epx) -> None:
    phones = device_ids(epx, "demo-elements", lambda record: record["os"].startswith(("Android", "iOS")))[:2]
    code, out, err = epx("respond", *DEMO, "--demo-writes", "--connection", "demo-elements", "--action", "message",
                         "--message", "Bring the phone to IT",
                         *(flag for record in phones for flag in ("--device", record["id"])), "--yes")
    assert code == EXIT_REFUSED
    assert all(not result["accepted"] and result["reason"] for result in json.loads(out))
    assert len(json.loads(epx.log.read_text().splitlines()[0])["results"]) == 2


def test_message_is_required_for_a_message(epx) -> None:
    chosen = device_ids(epx, "demo-epmm")[:1]
    code, _, err = epx("respond", *DEMO, "--demo-writes", "--connection", "demo-epmm", "--action", "message",
                       "--device", chosen[0]["id"], "--yes")
    assert code == 2 and "message" in err
    assert not epx.log.exists()
