"""What every screen of the explorer shares: tab moves the focus in the order keys are read, failed workers go
to the app's one handler, and a connection test (`ctrl+t` on the connections screen and in the form) says its
steps on the screen's status line."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from textual import work
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from screens.messages import ConnectionTesting
from tui.config import resolve_secret
from tui.models import Connection
from widgets.status_line import StatusLine

if TYPE_CHECKING:
    from tui.app import ExplorerApp
    from tui.session import Session
    from widgets.secret_prompt import SecretAnswer


class ExplorerScreen(Screen[None]):
    """Base screen. Worker state messages do not bubble, so each screen forwards failures to the app (Textual
    runs this handler after a subclass's own one too)."""

    # Tab is a priority binding: Textual's own (on Screen) runs only after the focused widget has handled the key,
    # and by then the app may have handled the keys typed after it: in `tab/srv`, the priority `/` opened the
    # search box, then the tab moved the focus on from the box, and the enter after it opened a device.
    BINDINGS = [
        Binding("tab", "app.focus_next", "Next pane", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, priority=True),
    ]

    @property
    def explorer(self) -> ExplorerApp:
        """The app's services: the clipboard (`copy`), the failure handler, config warnings."""
        return cast("ExplorerApp", self.app)

    @property
    def session(self) -> Session:
        """The config, the open clients, the clock and the remembered state (tui/session.py)."""
        return self.explorer.session

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "test" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            status = self.query_one("#status", StatusLine)
            if event.state is WorkerState.ERROR:
                status.show(f"Test failed: {event.worker.error}", error=True)
            elif event.worker.result is not None:
                status.show(event.worker.result)
        if event.state is WorkerState.ERROR:
            self.explorer.report_worker_failure(event.worker)

    @work(group="test", exclusive=True, exit_on_error=False)
    async def test_connection(self, connection: Connection) -> str:
        """Reach the console first (no secret needed), then ask for the password and log in; each step is
        said on the screen's `#status` line."""
        async def ask() -> tuple[bool, str | None]:
            answer = await self.obtain_secret(connection, can_save=False)
            return (False, None) if answer is None else (True, answer.secret)

        from tui.vendors import test_in_steps  # the clients load when first needed: a faster start

        await self.session.prepare(connection)
        return await test_in_steps(
            connection, ask, lambda words: self.post_message(ConnectionTesting(words)),
            transport=self.session.transports.get(connection.name),
            request_timeout=self.session.config.settings.request_timeout)

    def on_connection_testing(self, message: ConnectionTesting) -> None:
        self.query_one("#status", StatusLine).show(message.words)

    def refuse_write(self, connection: str) -> None:
        """Say that a change was not made because the connection is read-only, and how to allow changes."""
        from tui.vendors.base import WriteRefusedError  # loaded by then: only an open console refuses writes

        hint = ("The demo is read-only unless started with `epx --demo --demo-writes`." if self.session.demo
                else WriteRefusedError.hint)
        self.notify(f"{connection} is read-only: nothing was changed. {hint}",
                    title=WriteRefusedError.title, severity="warning", markup=False)

    async def obtain_secret(self, connection: Connection, *, can_save: bool) -> SecretAnswer | None:
        """The connection's secret from its profile, else asked for; None when the user cancels.

        Call from a worker: a password command may take seconds and the prompt waits for the user.
        """
        from widgets.secret_prompt import SecretAnswer, SecretPrompt  # loads when first asked for: a faster start

        secret = await asyncio.to_thread(resolve_secret, connection)
        if secret is not None:
            return SecretAnswer(secret, save=False)
        prompt = f"Password for {connection.username or 'the API user'} on {connection.name} ({connection.url})"
        return await self.app.push_screen_wait(SecretPrompt(prompt, can_save=can_save))
