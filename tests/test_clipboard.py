"""Copying over OSC 52: the exact bytes per mode, with and without tmux, the size cap, and what the app
writes to its terminal and tells the user."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest

from tui.app import ExplorerApp
from tui.clipboard import (
    OSC52_MAX_BASE64,
    PREVIEW_LENGTH,
    ClipboardOff,
    ClipboardTooLarge,
    clipboard_sequence,
    preview,
    tmux_passthrough,
)
from tui.config import Config, Settings

TMUX = {"TMUX": "/tmp/tmux-1000/default,4242,0", "TERM": "tmux-256color"}
PLAIN = {"TERM": "xterm-256color"}

# "hi" is "aGk=" in base64.
OSC52_HI = "\x1b]52;c;aGk=\x07"
TMUX_HI = "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"


# --- the sequences ---------------------------------------------------------------------------------------


def test_auto_outside_tmux_is_plain_osc52() -> None:
    assert clipboard_sequence("hi", "auto", PLAIN) == OSC52_HI


def test_auto_inside_tmux_is_wrapped_for_passthrough_with_every_escape_doubled() -> None:
    assert clipboard_sequence("hi", "auto", TMUX) == TMUX_HI


def test_auto_with_an_empty_tmux_variable_is_not_tmux() -> None:
    assert clipboard_sequence("hi", "auto", {"TMUX": ""}) == OSC52_HI


@pytest.mark.parametrize("environ", [PLAIN, TMUX])
def test_osc52_mode_is_never_wrapped(environ) -> None:
    """For tmux with `set-clipboard on`, which takes OSC 52 from the pane itself."""
    assert clipboard_sequence("hi", "osc52", environ) == OSC52_HI


@pytest.mark.parametrize("environ", [PLAIN, TMUX])
def test_off_copies_nothing(environ) -> None:
    with pytest.raises(ClipboardOff) as caught:
        clipboard_sequence("hi", "off", environ)
    assert str(caught.value) == 'Copying is off (clipboard = "off" in the config).'


def test_unknown_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="xclip"):
        clipboard_sequence("hi", "xclip", PLAIN)


def test_text_is_utf8_then_base64() -> None:
    text = "Zoë's Mac\\Jürgen\nline 2"
    payload = clipboard_sequence(text, "osc52", PLAIN)
    assert payload.startswith("\x1b]52;c;") and payload.endswith("\x07")
    assert base64.b64decode(payload[len("\x1b]52;c;"):-1]).decode("utf-8") == text


def test_passthrough_doubles_each_escape() -> None:
    assert tmux_passthrough("\x1b]0;title\x1b\\") == "\x1bPtmux;\x1b\x1b]0;title\x1b\x1b\\\x1b\\"


# --- the cap ---------------------------------------------------------------------------------------------------


def test_cap_is_on_the_base64_length_inclusive() -> None:
    at_cap = "a" * (OSC52_MAX_BASE64 // 4 * 3)  # 3 bytes -> 4 base64 characters, no padding
    assert len(base64.b64encode(at_cap.encode())) == OSC52_MAX_BASE64
    assert len(clipboard_sequence(at_cap, "auto", PLAIN)) == OSC52_MAX_BASE64 + len(OSC52_HI) - len("aGk=")

    with pytest.raises(ClipboardTooLarge) as caught:
        clipboard_sequence(at_cap + "a", "auto", TMUX, what="the raw payload")

    assert (caught.value.encoded, caught.value.limit) == (OSC52_MAX_BASE64 + 4, OSC52_MAX_BASE64)
    assert str(caught.value) == (
        "Not copied: the raw payload is too large for the terminal's clipboard "
        "(100,004 bytes of base64, the limit is 100,000)."
    )


def test_cap_counts_bytes_not_characters() -> None:
    """Three-byte characters: 25,001 of them are 75,003 bytes, 100,004 base64 characters."""
    with pytest.raises(ClipboardTooLarge):
        clipboard_sequence("€" * 25_001, "osc52", PLAIN)
    assert clipboard_sequence("€" * 25_000, "osc52", PLAIN)


def test_a_smaller_cap_can_be_given() -> None:
    with pytest.raises(ClipboardTooLarge):
        clipboard_sequence("hello", "auto", PLAIN, limit=4)


# --- the preview -------------------------------------------------------------------------------------------


def test_preview_keeps_short_text() -> None:
    assert preview("WIN-7F3K2") == "WIN-7F3K2"


def test_preview_is_one_line_and_at_most_40_characters() -> None:
    text = "C:\\Program Files\\Symantec\\Symantec Endpoint Protection\\14.3.558.0000.105\\Bin\n\tSmc.exe"
    shown = preview(text)
    assert len(shown) == PREVIEW_LENGTH == 40
    assert shown.endswith("…") and "\n" not in shown and "\t" not in shown
    assert shown == "C:\\Program Files\\Symantec\\Symantec Endp…"


def test_preview_of_control_characters_and_blank_text() -> None:
    assert preview("a\x1b[31mb\r\nc") == "a [31mb c"
    assert preview("") == "(empty)"
    assert preview(" \n ") == "(blank)"


# --- the app writes the sequence to its terminal -------------------------------------------------------


def app_with(mode: str) -> ExplorerApp:
    return ExplorerApp(Config(path=None, settings=Settings(clipboard=mode)))


def capture_writes(app: ExplorerApp, monkeypatch) -> list[str]:
    """What the app writes to its terminal from now on (the headless driver would drop it)."""
    written: list[str] = []
    monkeypatch.setattr(app._driver, "write", written.append)
    return written


def messages(app: ExplorerApp) -> list[tuple[str, str]]:
    return [(n.severity, n.message) for n in app._notifications]


PASSTHROUGH = "the terminal through tmux passthrough (it arrives where tmux allows passthrough)"


@pytest.mark.parametrize(("environ", "expected", "where"), [
    (PLAIN, OSC52_HI, "the terminal's clipboard (OSC 52)"),
    (TMUX, TMUX_HI, PASSTHROUGH),  # no tmux server at that socket: the wrapped sequence, and said as such
])
async def test_app_copy_writes_the_sequence_to_the_terminal(monkeypatch, environ, expected, where) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    app = app_with("auto")
    async with app.run_test(size=(80, 24)) as pilot:
        written = capture_writes(app, monkeypatch)

        app.copy("hi", "name")
        await pilot.pause()

        assert written == [expected]
        assert app.clipboard == "hi"  # in-app paste sees it too
        assert messages(app) == [("information", f"Copied name to {where}: hi")]


async def test_app_copy_in_osc52_mode_ignores_tmux(monkeypatch) -> None:
    monkeypatch.setenv("TMUX", TMUX["TMUX"])
    app = app_with("osc52")
    async with app.run_test(size=(80, 24)) as pilot:
        written = capture_writes(app, monkeypatch)

        app.copy("hi", "name")
        await pilot.pause()

        assert written == [OSC52_HI]


async def test_app_copy_previews_long_text_without_markup(monkeypatch) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    app = app_with("auto")
    async with app.run_test(size=(80, 24)) as pilot:
        capture_writes(app, monkeypatch)
        text = "[bold]not markup[/bold] " + "x" * 100

        app.copy(text, "computerName")
        await pilot.pause()

        [(severity, message)] = messages(app)
        assert severity == "information"
        assert message == "Copied computerName to the terminal's clipboard (OSC 52): " + preview(text)
        assert message.startswith("Copied computerName to the terminal's clipboard (OSC 52): [bold]not markup")
        assert message.endswith("…")
        assert app.clipboard == text  # the whole text, not the preview


async def test_app_copy_when_off_writes_nothing_and_warns(monkeypatch) -> None:
    app = app_with("off")
    async with app.run_test(size=(80, 24)) as pilot:
        written = capture_writes(app, monkeypatch)

        app.copy("hi", "name")
        await pilot.pause()

        assert written == []
        assert app.clipboard == ""
        assert messages(app) == [("warning", 'Copying is off (clipboard = "off" in the config).')]


async def test_app_copy_refuses_too_large_text(monkeypatch) -> None:
    app = app_with("auto")
    async with app.run_test(size=(80, 24)) as pilot:
        written = capture_writes(app, monkeypatch)

        app.copy("a" * 80_000, "the raw payload")
        await pilot.pause()

        assert written == []
        assert app.clipboard == ""
        [(severity, message)] = messages(app)
        assert severity == "warning"
        assert message.startswith("Not copied: the raw payload is too large")


# --- inside a real tmux: the copy goes through tmux itself, and the message says where ----------------------


@pytest.fixture
def tmux_server(tmp_path):
    """A tmux server of this test's own (its socket in tmp_path), with stock options: passthrough off."""
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux is not installed")
    socket = tmp_path / "tmux.sock"
    subprocess.run([tmux, "-S", str(socket), "-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24"],
                   check=True, timeout=10)
    try:
        yield lambda *args: subprocess.run([tmux, "-S", str(socket), *args], capture_output=True, text=True,
                                           timeout=10)
    finally:
        subprocess.run([tmux, "-S", str(socket), "kill-server"], capture_output=True, timeout=10)


@pytest.mark.parametrize(("set_clipboard", "where"), [
    ("off", "tmux's paste buffer (prefix ] pastes it)"),
    ("on", "tmux's paste buffer (prefix ] pastes it) and the terminal's clipboard"),
])
async def test_in_tmux_a_copy_lands_in_its_buffer_and_says_so(monkeypatch, tmux_server, tmp_path, set_clipboard,
                                                                where) -> None:
    """A stock tmux drops a wrapped OSC 52 (passthrough is off) while the app said "Copied": the copy now goes
    through `tmux load-buffer -w`, and the message names tmux's buffer, and the terminal's clipboard only where
    tmux forwards it."""
    tmux_server("set-option", "-g", "set-clipboard", set_clipboard)
    monkeypatch.setenv("TMUX", f"{tmp_path / 'tmux.sock'},1,0")
    app = app_with("auto")
    async with app.run_test(size=(80, 24)) as pilot:
        written = capture_writes(app, monkeypatch)

        app.copy("WS-0042 é", "name")
        await pilot.pause()

        assert written == []  # nothing that a stock tmux would drop
        assert tmux_server("show-buffer").stdout == "WS-0042 é"
        assert messages(app) == [("information", f"Copied name to {where}: WS-0042 é")]
