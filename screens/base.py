"""What every screen of the explorer shares: failed workers go to the app's one handler."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui.config import resolve_secret
from tui.models import Connection
from tui.vendors.base import WriteRefusedError
from widgets.secret_prompt import SecretAnswer, SecretPrompt

if TYPE_CHECKING:
    from tui.app import ExplorerApp


class ExplorerScreen(Screen[None]):
    """Base screen. Worker state messages do not bubble, so each screen forwards failures to the app (Textual
    runs this handler after a subclass's own one too)."""

    @property
    def explorer(self) -> ExplorerApp:
        return cast("ExplorerApp", self.app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.explorer.report_worker_failure(event.worker)

    def refuse_write(self, connection: str) -> None:
        """Say that a change was not made because the connection is read-only, and how to allow changes."""
        hint = ("The demo is read-only unless started with `epx --demo --demo-writes`." if self.explorer.demo
                else WriteRefusedError.hint)
        self.notify(f"{connection} is read-only: nothing was changed. {hint}",
                    title=WriteRefusedError.title, severity="warning", markup=False)

    async def obtain_secret(self, connection: Connection, *, can_save: bool) -> SecretAnswer | None:
        """The connection's secret from its profile, else asked for; None when the user cancels.

        Call from a worker: a password command may take seconds and the prompt waits for the user.
        """
        secret = await asyncio.to_thread(resolve_secret, connection)
        if secret is not None:
            return SecretAnswer(secret, save=False)
        prompt = f"Password for {connection.username or 'the API user'} on {connection.name} ({connection.url})"
        return await self.app.push_screen_wait(SecretPrompt(prompt, can_save=can_save))
