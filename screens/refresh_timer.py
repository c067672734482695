"""The one timer behind the groups screen's auto-refresh and the timeline's live tail.

Both run their action some seconds after it last finished, and neither may act under a dialog or a detail
screen (the refresh would move the table the user is about to return to): then the timer looks again soon.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.screen import Screen
from textual.timer import Timer

RETRY_UNDER_DIALOG_S = 2.0
"""Seconds before a timer that came due under a dialog, or while its screen was busy, looks again."""


class RefreshTimer:
    """Runs `action` once, `seconds` after `arm`; the owner arms it again when the action's work is done."""

    def __init__(self, screen: Screen[object], action: Callable[[], None], *,
                 busy: Callable[[], bool] = lambda: False) -> None:
        self.screen = screen
        self.action = action
        self.busy = busy
        self._timer: Timer | None = None

    def arm(self, seconds: float) -> None:
        """Run the action in `seconds` (0: never), replacing the time set before."""
        self.stop()
        if seconds:
            self._timer = self.screen.set_timer(seconds, self.fire)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def fire(self) -> None:
        """Run the action now, unless another screen is over this one or it is busy: then look again soon."""
        self._timer = None
        if self.screen.app.screen is not self.screen or self.busy():
            self.arm(RETRY_UNDER_DIALOG_S)
        else:
            self.action()
