"""The Textual application: global keys, the open connections, and the one worker-failure handler."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen
from textual.worker import Worker

from screens.connections import ConnectionsScreen
from tui.clipboard import ClipboardError, clipboard_sequence, copy_with_tmux, preview
from tui.config import Config, ConfigError, SecretError, permission_warning
from tui.export import ExportError
from tui.hashes import HashError
from tui.session import Session
from tui.snapshots import SnapshotStore
from tui.state import StateStore
from tui.textual_compat import hangup_safe, keep_for_paste, traceback_without_locals, write_to_terminal

if TYPE_CHECKING:
    import httpx

PALETTE_SKIP = {"command_palette", "help", "quit"}
HANGUP_EXIT_CODE = 128 + signal.SIGHUP
TERMINAL_CHECK_S = 1.0
"""How often the app looks whether its terminal hung up (a dropped SSH session that sent no SIGHUP)."""


class ExplorerApp(App[None]):
    """Endpoint Explorer: global keys, the clipboard, the one worker-failure handler; what the screens work with
    is its `session` (screens reach a console through `session.client_for` and never build clients)."""

    TITLE = "Endpoint Explorer"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(
        self,
        config: Config,
        *,
        config_error: ConfigError | None = None,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        clock: Callable[[], datetime] | None = None,
        open_connection: str | None = None,
        state: StateStore | None = None,
        snapshots: SnapshotStore | None = None,
    ) -> None:
        super().__init__()
        self.session = Session(config, config_error, transports or {}, clock, state or StateStore(None),
                               open_connection, snapshots=snapshots or SnapshotStore(None))
        """What every screen works with (`ExplorerScreen.session`)."""

    def get_driver_class(self) -> type[Driver]:
        return hangup_safe(super().get_driver_class())

    def _fatal_error(self) -> None:
        """Textual 8.2.8 prints a crash's traceback with the local variables of every frame, and one of them may be
        a password or a token (the `secret` a client is built with): this prints the traceback without them."""
        self.bell()
        self.panic(traceback_without_locals())

    def on_mount(self) -> None:
        theme = self.session.config.settings.theme
        if theme in self.available_themes:
            self.theme = theme
        else:
            self.notify(f"Unknown theme {theme!r} in the config; using {self.theme}.", severity="warning", markup=False)
        self.push_screen(ConnectionsScreen())
        self.warn_about_config()
        if not self.is_headless:
            self._leave_when_the_terminal_goes()

    def warn_about_config(self) -> None:
        """A config file with a password that group or others may read is said at start and on reload."""
        warning = permission_warning(self.session.config)
        if warning:
            self.notify(warning, title="Config file not private", severity="warning", timeout=15, markup=False)

    def _leave_when_the_terminal_goes(self) -> None:
        """Exit cleanly when the SSH session drops. Textual 8.2.8 has no SIGHUP handler (the signal kills the
        process without restoring a terminal that is still there) and, when stdin hangs up without a SIGHUP,
        its input thread keeps reading an empty stdin at full CPU forever. So both end the app here, which
        cancels every worker and closes the clients. An inherited ignored SIGHUP (nohup) stays ignored."""
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.exit, None, HANGUP_EXIT_CODE)
        stdin = select.poll()
        stdin.register(sys.__stdin__.fileno(), 0)  # poll reports a hang-up, an error or a closed fd regardless

        def check() -> None:
            if stdin.poll(0):
                self.exit(return_code=HANGUP_EXIT_CODE)

        self.set_interval(TERMINAL_CHECK_S, check)

    def copy(self, text: str, what: str) -> None:
        """Copy to the terminal's clipboard with OSC 52 (through tmux itself when `clipboard = "auto"` runs in
        tmux), and say what was copied and where it went; a warning, and nothing copied, when the setting is
        "off" or the text is too large for terminals to accept."""
        try:
            where = self._send_to_clipboard(text, what)
        except ClipboardError as error:
            self.notify(str(error), severity="warning", markup=False)
            return
        self.notify(f"Copied {what} to {where}: {preview(text)}", markup=False)

    def copy_to_clipboard(self, text: str) -> None:
        """Textual's own copies (ctrl+c in a field) honour the `clipboard` setting and tmux too."""
        with contextlib.suppress(ClipboardError):
            self._send_to_clipboard(text, "the selection")

    def _send_to_clipboard(self, text: str, what: str) -> str:
        """Copy `text` (see `copy`); returns where it went, in words."""
        mode = self.session.config.settings.clipboard
        sequence = clipboard_sequence(text, mode, os.environ, what=what)
        keep_for_paste(self, text)  # what Textual keeps, so pasting inside the app works
        where = "the terminal's clipboard (OSC 52)"
        if mode == "auto" and os.environ.get("TMUX"):
            try:
                return copy_with_tmux(text, os.environ)
            except ClipboardError:  # an old tmux: passthrough, which arrives only where tmux allows it
                where = "the terminal through tmux passthrough (it arrives where tmux allows passthrough)"
        write_to_terminal(self, sequence)
        return where

    async def on_unmount(self) -> None:
        await self.session.close()

    def report_worker_failure(self, worker: Worker) -> None:
        """The single place a failed worker becomes a message; the app keeps running."""
        from tui.vendors.base import VendorError  # the clients load when first needed: a faster start

        error = worker.error
        if isinstance(error, VendorError):
            self.notify(str(error), title=error.title, severity="error", timeout=10, markup=False)
        elif isinstance(error, (ConfigError, SecretError)):
            self.notify(str(error), title="Configuration", severity="error", timeout=10, markup=False)
        elif isinstance(error, ExportError):
            self.notify(str(error), title="Export failed", severity="error", timeout=10, markup=False)
        elif isinstance(error, HashError):
            self.notify(str(error), title="Not sent", severity="error", timeout=10, markup=False)
        elif error is not None:
            # A bug: its class, the task's name and the traceback mean nothing to a responder; they go to
            # the Textual log (`textual console`) only.
            self.log.error("worker failed", worker=worker.name, traceback="".join(traceback.format_exception(error)))
            self.notify(
                "That stopped on a problem epx did not expect. The app goes on; if it happens again, "
                "please report what you were doing.",
                title="Unexpected error",
                severity="error",
                timeout=10,
                markup=False,
            )

    def action_help(self) -> None:
        from screens.help import HelpScreen  # loads when first asked for: a faster start

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette offers every key of the current screen, so each action is reachable by name."""
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not active.enabled or not binding.description or binding.action in PALETTE_SKIP:
                continue
            if binding.action in seen:
                continue
            seen.add(binding.action)
            shown = binding.key_display or self.get_key_display(binding)
            if not shown.isascii():  # "⏎" is drawn two cells wide by many terminals: the key's name instead
                shown = binding.key.split(",")[0]
            yield SystemCommand(
                binding.description,
                f"{binding.tooltip or binding.description} (key: {shown})",
                partial(active.node.run_action, binding.action),
            )
