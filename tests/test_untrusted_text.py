"""Console data is untrusted: what an attacker who controls an endpoint writes (its host name, user, OS string)
must never reach a terminal, a CSV cell or the clipboard as a control sequence (issue 13, item 1).

The cleaning happens once, where payloads become records (`tui.models.visible`); these tests feed each kind of
hostile payload through each text field of each record, then through a SEPM simulator whose computers and
groups carry them, to the CLI's table, CSV and JSON, the UI's export and clipboard, and the rendered screen.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w
from textual.widgets import Input

from helpers import HOSTILE, LAB_PASSWORD, LAB_USERNAME, HostileFleet, HostileSimulator, assert_harmless
from tui.cli import main
from tui.models import (
    CommandRow,
    Device,
    EocMatch,
    Event,
    FingerprintList,
    Group,
    RawPage,
    ServerInfo,
    Severity,
    visible,
)
from tui.simulators.sepm import create_app
from tui.simulators.serve import ServerThread


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_visible_shows_every_control_and_keeps_the_words(payload: str) -> None:
    shown = visible(f"host{payload}end")
    assert_harmless(shown)
    assert shown.isprintable() and shown.startswith("host") and shown.endswith("end")
    assert visible(shown) == shown  # idempotent: a record rebuilt with replace() is unchanged
    if "\x1b" in payload:
        assert "␛" in shown  # shown, not silently dropped: the responder sees something was there


def test_visible_leaves_ordinary_text_alone() -> None:
    for text in ("WS-0042", "Müller, Zoë", "東京-端末", "Windows 11 Pro 23H2", "fe80::1%eth0", "CORP\\alice"):
        assert visible(text) is text or visible(text) == text
    assert visible("two\nlines\x1b", keep_newlines=True) == "two\nlines␛"


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_every_text_field_of_every_record_is_cleaned(payload: str) -> None:
    bad = f"x{payload}"
    device = Device(vendor="sepm", connection="c", id=bad, name=bad, os=bad, ip_addresses=(bad,), group=bad,
                    user=bad, labels=(bad,), health_reasons=(bad,), state=bad)
    group = Group(id=bad, name=bad, path=(bad, bad))
    listing = FingerprintList(id=bad, name=bad, hash_type=bad, source=bad, description=bad, hashes=(bad,),
                              group_ids=(bad,))
    event = Event(vendor="elements", connection="c", id=bad, time=datetime.now(UTC), severity=Severity.INFO, engine=bad, title=bad, message=f"{bad}\n{bad}",
        category=bad, device_id=bad, device_name=bad, organization=bad, source=bad)
    row = CommandRow(computer_id=bad, computer_name=bad, state_id=1, state=bad, sub_state_id=None, sub_state=bad,
                     final=False, computer_ip=bad, domain=bad, user=bad, result_xml=bad,
                     matches=(EocMatch(hash_type=bad, hash_value=bad, result=bad, path=bad, file_name=bad),))
    server = ServerInfo("SEPM", bad, bad)
    raw = RawPage.of([{bad: [bad, {"k": bad}], "n": 5}]).record(0)
    for record in (device, group, listing, event, row, row.matches[0], server):
        for name in getattr(type(record), "__slots__", ()):
            value = getattr(record, name, None)
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, str):
                    assert_harmless(item)
    assert_harmless(json.dumps(raw, ensure_ascii=False))
    assert event.message.count("\n") == 1  # a message keeps its lines


# --- through a console: a SEPM simulator whose computers and groups carry the payloads ---------------------

PASSWORD_ENV = "EPX_TEST_HOSTILE_PASSWORD"


@pytest.fixture(scope="module")
def hostile_server():
    simulator = HostileSimulator(HostileFleet(), username=LAB_USERNAME, password=LAB_PASSWORD)
    with ServerThread(create_app(simulator)) as running:
        yield running


@pytest.fixture
def config(tmp_path: Path, hostile_server, monkeypatch) -> Path:
    monkeypatch.setenv(PASSWORD_ENV, LAB_PASSWORD)
    monkeypatch.delenv("EPX_CONFIG", raising=False)
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps({"connections": {"hostile": {
        "vendor": "sepm", "url": hostile_server.url, "allow_http": True, "username": LAB_USERNAME,
        "password_env": PASSWORD_ENV}}}))
    return path


@pytest.mark.parametrize("command", ["devices", "groups"])
@pytest.mark.parametrize("output", ["table", "csv", "json"])
def test_the_cli_prints_no_control_sequence(config: Path, capsys, command: str, output: str) -> None:
    code = main([command, "--config", str(config), "--connection", "hostile", "--format", output])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert_harmless(out)
    assert_harmless(err)
    if command == "devices":
        assert "host0␛]52;c;" in out  # the payload is shown, visibly
    else:
        assert "Servers␛]0;pwned␇" in out


async def test_the_screen_the_export_and_the_clipboard_stay_harmless(config: Path, tmp_path: Path, monkeypatch):
    from tui.app import ExplorerApp
    from tui.config import load_config
    from tui.export import write_devices

    copied: list[str] = []
    app = ExplorerApp(load_config(config))
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        groups = app.screen
        screen = app.export_screenshot()
        assert_harmless(screen)
        assert "host0␛]52;c;" in screen and "14.3␛]52" in screen

        # Rich markup in the filter and in the group in scope: shown as typed in the bar, never parsed
        await pilot.press("slash")
        app.screen.query_one("#search", Input).value = HOSTILE["markup"]
        groups.pane.filter = replace(groups.pane.filter, group=next(
            path for path in groups.fleet.groups["hostile"] if "Servers" in path[-1]))
        await pilot.pause()
        bar = str(app.screen.query_one("#filter-bar").render())
        assert "Servers␛]0;pwned␇[/x]" in bar, bar
        assert f"matching “{HOSTILE['markup']}”" in str(app.screen.query_one("#empty").render())
        export = tmp_path / "out.csv"
        with export.open("w", newline="") as handle:
            write_devices(handle, list(groups.inventory.devices), "csv")
        assert_harmless(export.read_text())
        for device in groups.inventory.devices:
            app.copy_to_clipboard(json.dumps(device.raw, ensure_ascii=False))
        assert copied
        assert_harmless("".join(copied))


@pytest.mark.parametrize("content_type,body", [
    ("application/json", '{"errorMessage": "bad host \\u001b]0;pwned\\u0007 \\u202eexe"}'),
    ("text/html", "<html><title>Oops \x1b]52;c;ZXZpbA==\x07</title></html>"),
])
def test_error_sentences_quoting_the_server_are_harmless(content_type: str, body: str) -> None:
    import httpx

    from tui.models import Connection
    from tui.vendors.sepm import SepmClient

    client = SepmClient(Connection(name="x", vendor="sepm", url="https://sepm.test:8446"), "pw")
    request = httpx.Request("GET", "https://sepm.test:8446/sepm/api/v1/computers")
    response = httpx.Response(400, headers={"content-type": content_type}, content=body.encode(), request=request)
    error = client._status_error(response)
    assert_harmless(str(error))
    assert "␛" in str(error)
