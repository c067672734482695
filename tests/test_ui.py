"""Pilot tests: what a user does with the keyboard, against the simulator (in-process or on loopback)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Footer, Input

from helpers import (
    FIXED_NOW,
    demo_app,
    fixed_clock,
    focus_by_click,
    loaded,
    notifications,
    open_demo,
    palette_listed,
    screen_lines,
    tick,
    wait_until,
)
from screens.connection_form import ConnectionForm
from screens.connections import ConnectionsScreen
from screens.device_detail import DeviceDetailScreen
from screens.groups import GroupsScreen
from screens.help import HelpScreen
from tui.app import ExplorerApp
from tui.config import Config, ConfigError, load_config
from tui.demo import build_demo
from tui.models import Connection, Health
from tui.simulators.sepm import DEMO_PASSWORD
from tui.vendors import tls_words
from widgets.confirm import ConfirmDialog
from widgets.device_table import DeviceTable
from widgets.group_tree import GroupTree
from widgets.secret_prompt import SecretPrompt


async def test_demo_opens_groups_and_devices() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, ConnectionsScreen)
        table = await open_demo(pilot, app, 300)
        assert table.row_count == 300
        tree = app.screen.query_one(GroupTree)
        assert str(tree.root.label) == "All devices (300)"
        assert "SEPM 14.3.25029.9000" in app.screen.sub_title


async def test_filters_critical_missing_patch_text_and_negation() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_demo(pilot, app, 300)
        everyone = list(table.devices)
        critical = [d for d in everyone if d.health is Health.CRITICAL]
        missing = [d for d in everyone if d.missing_critical_patches is True]
        assert 0 < len(critical) < 300 and 0 < len(missing) < 300

        await pilot.press("c")
        assert [d.id for d in table.devices] == [d.id for d in critical]
        await pilot.press("m")
        both = [d.id for d in critical if d.missing_critical_patches is True]
        assert [d.id for d in table.devices] == both
        await pilot.press("c")
        assert [d.id for d in table.devices] == [d.id for d in missing]
        await pilot.press("escape")
        assert table.row_count == 300

        await pilot.press("slash")
        await pilot.press(*"win")
        await pilot.pause()
        with_win = [d for d in everyone if "win" in f"{d.name} {d.os} {d.user} {d.group}".casefold()]
        assert 0 < table.row_count == len(with_win) < 300
        search = app.screen.query_one("#search", Input)
        search.value = "!win"
        await pilot.pause()
        assert table.row_count == 300 - len(with_win)
        await pilot.press("enter", "escape")
        assert table.row_count == 300
        assert not search.display


async def test_selecting_a_group_narrows_the_table_to_its_subtree() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_demo(pilot, app, 300)
        tree = app.screen.query_one(GroupTree)
        tree.focus()
        servers = next(node for node in tree.root.children[0].children if node.data.group[-1:] == ("Servers",))
        tree.move_cursor(servers)
        await pilot.pause()
        assert 0 < table.row_count < 300
        assert all(d.group.startswith("My Company\\Servers") for d in table.devices)
        assert str(servers.label) == f"Servers ({table.row_count})"


async def test_device_detail_shows_normalized_and_raw_fields() -> None:
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_demo(pilot, app, 50)
        device = table.devices[0]
        table.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, DeviceDetailScreen)
        fields = app.screen.query_one("#fields")

        def rows() -> list[list[str]]:
            return [[str(cell) for cell in fields.get_row_at(i)] for i in range(fields.row_count)]

        assert rows()[0] == ["Name", device.name]
        assert ["computerName", device.name] in rows()
        await pilot.press("slash", *"uniqueid")
        await pilot.pause()
        assert rows() == [["─ raw fields ─", ""], ["uniqueId", device.id]]
        await pilot.press("enter", "down", "y")
        assert app.clipboard == device.id
        await pilot.press("escape")
        assert isinstance(app.screen, GroupsScreen)
        assert isinstance(app.screen, GroupsScreen)


async def test_help_lists_the_screen_keys_and_palette_reaches_them() -> None:
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_demo(pilot, app, 50)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        texts = [str(cell) for row in app.screen.sections() for _, cell in row[1]]
        assert any("critical" in text for text in texts)
        await pilot.press("escape")
        assert isinstance(app.screen, GroupsScreen)

        await pilot.press("ctrl+p")
        await pilot.press(*"Critical")
        await wait_until(pilot, palette_listed(app))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, GroupsScreen) and app.screen.pane.filter.critical)
        assert all(d.health is Health.CRITICAL for d in table.devices)


async def test_help_at_80_columns_wraps_descriptions_beside_a_fixed_key_column() -> None:
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_demo(pilot, app, 50)
        app.screen.query_one(GroupTree).focus()
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        seen: list[str] = []
        for _ in range(80):  # scroll through it a line at a time: every description is whole on screen at some point
            await pilot.pause()
            seen += screen_lines(app)
            await pilot.press("down")
        words = " ".join(" ".join(line.replace("│", " ").split()) for line in seen)
        for _, rows in help_screen.sections():
            for key, what in rows:
                assert " ".join(what.split()) in words, what
        assert all(not widget.max_scroll_x for widget in help_screen.query("*") if widget.is_scrollable)
        assert any("ctrl+p" in line for line in seen) and any("shift+space" in line for line in seen)


def write_config(path: Path, url: str, **extra: str) -> None:
    lines = ["[connections.lab]", 'vendor = "sepm"', f'url = "{url}"', 'username = "admin"',
             "allow_http = true", "read_only = true"]
    lines += [f'{key} = "{value}"' for key, value in extra.items()]
    path.write_text("\n".join(lines) + "\n")


async def test_add_a_connection_through_the_form_test_and_open_it(tmp_path: Path, sepm_simulator) -> None:
    _, url = sepm_simulator
    config_path = tmp_path / "config.toml"
    app = ExplorerApp(Config(path=config_path), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, ConnectionForm)
        form = app.screen
        form.query_one("#name", Input).value = "lab-sepm"
        form.query_one("#url", Input).value = url
        form.query_one("#username", Input).value = "admin"
        await pilot.press("ctrl+s")
        assert "use https" in str(form.query_one("#error-url").render())
        assert not config_path.exists()

        await tick(pilot, "#allow_http")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, SecretPrompt))
        await pilot.press(*DEMO_PASSWORD, "enter")
        await wait_until(pilot, lambda: "login OK" in str(form.query_one("#status").render()))

        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ConnectionsScreen)
        saved = load_config(config_path).connections["lab-sepm"]
        assert (saved.url, saved.username, saved.allow_http, saved.password) == (url, "admin", True, None)
        assert DEMO_PASSWORD not in config_path.read_text()
        assert oct(os.stat(config_path).st_mode & 0o777) == "0o600"

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SecretPrompt))
        await pilot.press(*DEMO_PASSWORD, "enter")
        await wait_until(pilot, loaded(app, 120))
        assert app.screen.query_one(DeviceTable).row_count == 120


async def burst(pilot, *keys: str) -> None:
    """Send keys the way typeahead over SSH arrives: all queued at once, before the app handles the first.

    `pilot.press` waits for the app to go idle after every key, so it cannot show a key landing in the
    wrong widget."""
    for key in keys:
        character = {"tab": "\t", "colon": ":"}.get(key, key if len(key) == 1 else None)
        pilot.app._driver.send_message(events.Key(key, character))
    await pilot.pause()
    await pilot.pause()


async def test_keys_typed_right_after_tab_land_in_the_next_field(tmp_path: Path) -> None:
    app = ExplorerApp(Config(path=tmp_path / "config.toml"), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        form = app.screen
        form.query_one("#url", Input).focus()
        await pilot.press("h", "colon", "1", "tab", "a", "d")
        await burst(pilot, "m", "tab", "r", "o", "shift+tab")
        assert form.query_one("#url", Input).value == "h:1"
        assert form.query_one("#username", Input).value == "adm"
        assert form.query_one("#domain", Input).value == "ro"
        assert app.focused is form.query_one("#username", Input)


async def test_a_config_file_others_may_read_with_a_password_is_warned_at_start_and_on_reload(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    write_config(config_path, "http://127.0.0.1:9", password="not-shown")
    config_path.chmod(0o644)
    app = ExplorerApp(load_config(config_path), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        said = [n for n in notifications(app) if "chmod 600" in n]
        assert len(said) == 1 and str(config_path) in said[0] and "mode 0644" in said[0]
        assert "not-shown" not in said[0]
        app.clear_notifications()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert any("chmod 600" in n for n in notifications(app))


async def test_wrong_password_says_authentication_failed_and_keeps_running(tmp_path: Path, sepm_simulator) -> None:
    _, url = sepm_simulator
    config_path = tmp_path / "config.toml"
    write_config(config_path, url, password_env="EPX_TEST_WRONG_PASSWORD")
    os.environ["EPX_TEST_WRONG_PASSWORD"] = "not-the-password"
    try:
        app = ExplorerApp(load_config(config_path), clock=fixed_clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("enter")
            await wait_until(pilot, lambda: any("Authentication failed" in n for n in notifications(app)))
            await wait_until(pilot, lambda: isinstance(app.screen, ConnectionsScreen))
            assert not any("not-the-password" in n for n in notifications(app))
            assert "lab" not in app.session.clients
            await pilot.press("t")
            await wait_until(pilot, lambda: "Test failed" in str(app.screen.query_one("#status").render()))
            assert app.is_running
    finally:
        del os.environ["EPX_TEST_WRONG_PASSWORD"]


async def test_a_password_to_save_is_saved_only_after_its_login_succeeds(tmp_path: Path, sepm_simulator) -> None:
    _, url = sepm_simulator
    config_path = tmp_path / "config.toml"
    write_config(config_path, url)
    app = ExplorerApp(load_config(config_path), clock=fixed_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SecretPrompt))
        await pilot.press(*"Wrong-Guess-1")
        await tick(pilot, "#save")
        await focus_by_click(pilot, "#secret")
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("Authentication failed" in n for n in notifications(app)))
        assert isinstance(app.screen, ConnectionsScreen)
        assert "password" not in config_path.read_text() and "Wrong-Guess-1" not in config_path.read_text()
        assert app.session.config.connections["lab"].password is None
        assert "lab" not in app.session.clients

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SecretPrompt))
        await pilot.press(*DEMO_PASSWORD)
        await tick(pilot, "#save")
        await focus_by_click(pilot, "#secret")
        await pilot.press("enter")
        await wait_until(pilot, loaded(app, 120))
        assert load_config(config_path).connections["lab"].password == DEMO_PASSWORD


async def test_dead_network_is_reported_and_the_app_lives_on(tmp_path: Path) -> None:
    config = Config(path=None, connections={"dead": Connection(
        name="dead", vendor="sepm", url="http://127.0.0.1:9", username="admin", password="x", allow_http=True)})
    app = ExplorerApp(config, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("Network unreachable" in n for n in notifications(app)))
        assert isinstance(app.screen, GroupsScreen)
        assert "Load failed" in str(app.screen.query_one("#status").render())
        await pilot.pause()
        # Where the groups and devices would be: the failure in words and the retry key, not "0+" and "loading…".
        tree = app.screen.query_one(GroupTree)
        assert str(tree.root.label).endswith(" (failed)")
        assert [str(node.label) for node in tree.root.children] == ["ctrl+r retries"]
        empty = str(app.screen.query_one("#empty").render())
        assert app.screen.query_one("#empty").display and empty.startswith("No devices loaded. Cannot connect")
        assert "ctrl+r retries" in empty
        assert str(app.screen.query_one("#filter-bar").render()) == "no devices loaded"
        # The status line's sentence is longer than 80 columns: it wraps, and its end (what to do) is on screen.
        assert app.screen.query_one("#status").size.height >= 2
        assert "q goes back." in " ".join(line.strip() for line in screen_lines(app))
        await pilot.press("ctrl+r")  # retrying: loading again, then the same failure said again
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert str(tree.root.label).endswith(" (failed)")
        await pilot.press("q")
        assert isinstance(app.screen, ConnectionsScreen)


async def test_corrupt_config_is_reported_and_nothing_offers_to_overwrite_it(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text('[connections.prod]\nvendor = "sepm"\nurl = "https://x\n')
    before = config_path.read_bytes()
    with pytest.raises(ConfigError) as caught:
        load_config(config_path)
    app = ExplorerApp(Config(path=config_path), config_error=caught.value, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        status = str(app.screen.query_one("#status").render())
        assert str(config_path) in status and "line 3" in status
        bindings = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not {"add", "edit", "delete"} & bindings
        await pilot.press("a", "e", "d")
        assert isinstance(app.screen, ConnectionsScreen)
    assert config_path.read_bytes() == before


async def test_a_rate_limit_is_shown_while_waiting_then_loading_goes_on(tmp_path: Path, sepm_simulator) -> None:
    simulator, url = sepm_simulator
    simulator.faults.add("429", value=1, path="/sepm/api/v1/computers")
    config = Config(path=None, connections={"lab": Connection(
        name="lab", vendor="sepm", url=url, username="admin", password=DEMO_PASSWORD, allow_http=True)})
    app = ExplorerApp(config, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await wait_until(pilot, lambda: "rate limited; retrying in 1 s" in str(app.screen.query_one("#status").render()))
        assert app.screen.query_one("#status").has_class("-warning")
        await wait_until(pilot, loaded(app, 120))
        assert not app.screen.query_one("#status").has_class("-warning")


def test_raw_fields_read_as_the_console_sent_them() -> None:
    from screens.detail import flatten

    raw = {"infected": 0, "gup": False, "group": {"id": "G1", "fullPathName": None}, "ips": ["10.0.0.1", "::1"],
           "disks": [{"name": "C:"}]}
    assert list(flatten(raw)) == [
        ("disks[0].name", "C:"), ("group.fullPathName", "null"), ("group.id", "G1"), ("gup", "false"),
        ("infected", "0"), ("ips", "10.0.0.1, ::1"),
    ]


async def test_esc_closes_an_untouched_form_at_once_and_asks_before_discarding_changes(tmp_path: Path) -> None:
    app = ExplorerApp(Config(path=tmp_path / "config.toml"), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a", "escape")
        assert isinstance(app.screen, ConnectionsScreen)

        await pilot.press("a", "l", "a", "b", "escape")
        assert isinstance(app.screen, ConfirmDialog)
        assert "without saving this new connection" in str(app.screen.query_one(".dialog-body").render())
        await pilot.press("n")
        assert isinstance(app.screen, ConnectionForm)
        assert app.screen.query_one("#name", Input).value == "lab"
        await pilot.press("escape", "y")
        assert isinstance(app.screen, ConnectionsScreen)


async def test_an_unexpected_failure_is_said_in_a_sentence_without_internal_names(tmp_path: Path) -> None:
    app = ExplorerApp(Config(path=tmp_path / "config.toml"), clock=fixed_clock)

    async def _update_the_thing() -> None:
        raise KeyError("hashType")

    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.run_worker(_update_the_thing(), exit_on_error=False)
        await wait_until(pilot, lambda: notifications(app))
        [shown] = notifications(app)
        assert "did not expect" in shown
        assert not any(word in shown for word in ("KeyError", "hashType", "_update_the_thing", "Traceback"))


def test_the_tls_hint_names_the_forms_row_and_the_config_key() -> None:
    from tui.vendors.base import TlsError
    assert "TLS row" in TlsError.hint and "`verify` in the config file" in TlsError.hint


async def test_a_long_value_in_a_detail_wraps_and_is_readable_in_full() -> None:
    """An EOC result's path, a list of IPv6 addresses, an XML result: at 80 columns each wraps onto the lines it
    needs instead of ending in an ellipsis (issue 15)."""
    from screens.detail import DetailScreen

    path = r"C:\Users\Public\Downloads\Quarterly Reports 2026\Invoice_2026-11_final_really_final.pdf.exe"
    addresses = ", ".join(f"fe80::{index:x}:1ff:fe23:4567" for index in range(6))
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(DetailScreen("a detail", [("Path", path), ("IPv6", addresses)], {"result": "<x>ok</x>"}))
        await pilot.pause()
        shown = "".join(line.split("│")[-1].strip() if "│" in line else line.strip() for line in screen_lines(app))
        squeezed = shown.replace(" ", "")
        assert path.replace(" ", "") in squeezed and "…" not in shown
        assert addresses.replace(" ", "") in squeezed


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_ctrl_t_on_a_dead_port_says_so_and_never_asks_for_a_password(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    write_config(config_path, f"http://127.0.0.1:{closed_port()}")  # no password source: it would be asked for
    app = ExplorerApp(load_config(config_path), clock=fixed_clock)
    asked: list[object] = []
    async with app.run_test(size=(80, 24)) as pilot:
        connections = app.screen
        async def prompt(screen: object) -> None:
            asked.append(screen)  # and cancelled

        app.push_screen_wait = prompt  # type: ignore[method-assign]
        await pilot.press("t")
        await wait_until(pilot, lambda: "Test failed" in str(connections.query_one("#status").render()))
        said = str(connections.query_one("#status").render())
        assert "Cannot connect" in said and "port" in said
        assert not asked and app.screen is connections

        await pilot.press("e")
        form = app.screen
        assert isinstance(form, ConnectionForm)
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: "Test failed" in str(form.query_one("#status").render()))
        assert "Cannot connect" in str(form.query_one("#status").render())
        assert not asked and app.screen is form


async def test_ctrl_t_asks_for_the_password_only_once_the_console_answered(tmp_path: Path, sepm_simulator) -> None:
    _, url = sepm_simulator
    config_path = tmp_path / "config.toml"
    write_config(config_path, url)
    app = ExplorerApp(load_config(config_path), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        connections = app.screen
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, SecretPrompt))
        said = str(connections.query_one("#status").render())
        assert "lab: reached SEPM 14.3" in said and "plain http, no TLS" in said
        await pilot.press(*DEMO_PASSWORD, "enter")
        await wait_until(pilot, lambda: "login OK" in str(connections.query_one("#status").render()))
        assert "reached SEPM" in str(connections.query_one("#status").render())


def test_the_test_says_how_tls_was_checked() -> None:
    def words(url: str, verify: bool | str = True) -> str:
        return tls_words(Connection(name="x", vendor="sepm", url=url, username="u", verify=verify))

    assert words("https://sepm.example:8446") == "TLS verified"
    assert words("https://sepm.example:8446", "/etc/ssl/lab.pem") == "TLS verified against the profile's CA bundle"
    assert "NOT verified" in words("https://sepm.example:8446", False)
    assert words("http://127.0.0.1:8446") == "plain http, no TLS"


async def test_the_detail_footers_fit_80_columns_with_every_key_shown() -> None:
    """On a connection that allows changes the device detail's footer ran "… H Scan for hash  f Fetch f▏" and
    the event detail's lost "? Help": short footer words, the full ones in `?` help (issue 15)."""
    from screens.events import EventsScreen

    demo = build_demo(50, now=FIXED_NOW, writes=True)
    app = ExplorerApp(demo.config, transports=demo.transports, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_demo(pilot, app, 50)
        await pilot.press("enter")
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "H Scan" in footer and "f Fetch" in footer and "? Help" in footer, footer
        await pilot.press("escape", "E")
        await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen) and not app.screen.pending)
        await pilot.press("3")
        await wait_until(pilot, lambda: not app.screen.pending and app.screen.table.shown)
        await pilot.press("enter")
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "A Acknowledge" in footer and "? Help" in footer, footer


async def test_the_footer_is_rebuilt_only_when_the_keys_it_shows_change() -> None:
    """Every focus move re-announces the screen's keys, mostly the same ones: rebuilding the footer for them
    was a third of some tests' CPU (`OnceFooter`). Tab between tree and table keeps its keys; the filter box
    shows fewer, and escape brings the table's back."""
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_demo(pilot, app, 50)
        table_keys = list(app.screen.query_one(Footer).children)
        await pilot.press("tab")
        await pilot.pause()
        assert isinstance(app.focused, GroupTree) and list(app.screen.query_one(Footer).children) == table_keys
        await pilot.press("tab", "slash")
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "/ Filter" in footer and "c Critical" not in footer, footer
        await pilot.press("escape")
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "c Critical" in footer and "? Help" in footer, footer
        assert list(app.screen.query_one(Footer).children) != table_keys  # rebuilt: the keys had changed in between


async def test_the_connections_footer_fits_80_columns() -> None:
    """It ran "… ^r Reload co▏" and lost "? Help": reload (ctrl+r) stays a key, in ? help and the palette."""
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "q Quit" in footer and "? Help" in footer, footer
