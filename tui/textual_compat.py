"""The few places this app reaches into Textual's private API (version 8.2.8), in one module, each with why.

When Textual changes, this is the file to read: `_driver` (writing an escape sequence to the terminal),
`_clipboard` (what an in-app paste reads), `LinuxDriver._file` (the output the writer thread writes to),
`App._fatal_error` (overridden in tui/app.py with `traceback_without_locals`, so a crash prints no secret) and
`Footer.bindings_changed` (`OnceFooter`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

import rich
from textual.app import App
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.screen import Screen
from textual.widgets import Footer

if TYPE_CHECKING:
    from rich.traceback import Traceback


class _DroppingOutput:
    """The terminal as Textual's writer thread sees it, dropping what can no longer be written.

    In Textual 8.2.8 the writer thread dies on the first failed write (EIO once the terminal hung up); its
    queue of 30 writes then fills and the next refresh blocks the app for good, before it can notice the
    hang-up and exit. This keeps the thread alive and quiet instead.
    """

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self._gone = False

    def write(self, text: str) -> None:
        if not self._gone:
            try:
                self._file.write(text)
            except OSError:
                self._gone = True

    def flush(self) -> None:
        if not self._gone:
            try:
                self._file.flush()
            except OSError:
                self._gone = True

    def fileno(self) -> int:
        return self._file.fileno()


class HangupSafeDriver(LinuxDriver):
    """Textual's POSIX driver, writing through `_DroppingOutput`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._file = _DroppingOutput(self._file)


def hangup_safe(driver: type[Driver]) -> type[Driver]:
    """The driver to run with: Textual's POSIX driver made safe against a terminal that hung up."""
    return HangupSafeDriver if driver is LinuxDriver else driver


def write_to_terminal(app: App, text: str) -> None:
    """Write `text` (an escape sequence) to the app's terminal; nothing when it runs without one (tests)."""
    if app._driver is not None:
        app._driver.write(text)


def keep_for_paste(app: App, text: str) -> None:
    """What Textual's own paste (ctrl+v in a field) reads, as `App.copy_to_clipboard` would keep it."""
    app._clipboard = text


def traceback_without_locals() -> Traceback:
    """The current exception's traceback, without the local variables Textual would print in it."""
    from rich.traceback import Traceback  # only a crash needs it (and its pygments): not loaded at every start

    return Traceback(width=None, suppress=[rich])


class OnceFooter(Footer):
    """Textual's footer, rebuilt once however often the screen's keys changed since it last refreshed, and
    only when the keys it shows did change.

    Textual 8.2.8 schedules a rebuild of every key for each change (`Footer.bindings_changed`): the
    connections screen changes them four times while it starts (pushed, focused twice, its own
    refresh_bindings), and every focus move (tree, table, search box) changes them again, mostly to the
    same keys. Each rebuild mounts and styles every key anew: about a tenth of the start, and a third of
    some Pilot tests' CPU. The rebuild reads the keys when it runs, so one shows the last change as four did.
    """

    _rebuild_pending = False
    _shown: list[tuple[object, ...]] | None = None

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen and not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    def _keys_shown(self) -> list[tuple[object, ...]]:
        """Everything of the screen's keys that `Footer.compose` reads."""
        return [(binding.key, binding.action, binding.description, binding.key_display, binding.group,
                 enabled, tooltip)
                for _, binding, enabled, tooltip in self.screen.active_bindings.values() if binding.show]

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        if not self.is_attached:  # its screen was closed before the refresh
            return
        shown = self._keys_shown()
        if shown != self._shown:
            self._shown = shown
            await self.recompose()
