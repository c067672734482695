"""`?`: every key of the screen underneath, including the ones the footer has no room for."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

GENERIC_ACTIONS = {"app.focus_next", "app.focus_previous", "focus_next", "focus_previous", "screen.copy_text",
                   "copy_text"}
EVERYWHERE = [
    ("ctrl+p", "Command palette: every action by name"),
    ("?", "This help"),
    ("tab / shift+tab", "Next / previous pane"),
    ("ctrl+q", "Quit"),
]
KEY_WIDTH = 16
"""The key column: fixed, so at 80 columns the descriptions wrap beside it instead of pushing it off screen."""


class HelpScreen(ModalScreen[None]):
    """Keys of the screen first, then the ones that work everywhere, then the focused widget's own."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    #help-keys { height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.target = screen

    def sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        screen_keys: dict[str, list[str]] = {}
        widget_keys: dict[str, list[str]] = {}
        for key, active in self.target.active_bindings.items():
            description = active.binding.description
            if not description or active.node is self.app or active.binding.action in GENERIC_ACTIONS:
                continue
            keys = screen_keys if active.node is self.target else widget_keys
            keys.setdefault(active.binding.tooltip or description, []).append(self.app.get_key_display(active.binding))
        as_rows = lambda keys: [(" / ".join(shown), what) for what, shown in keys.items()]  # noqa: E731
        return [
            ("This screen", as_rows(screen_keys)),
            ("Everywhere", EVERYWHERE),
            ("In the focused list", as_rows(widget_keys)),
        ]

    def keys(self) -> Group:
        """Each section's title over a two-column grid whose descriptions wrap to the dialog's width."""
        parts: list[Text | Table] = []
        for title, rows in self.sections():
            if rows:
                parts.append(Text(title, style="bold"))
                grid = Table.grid(padding=(0, 1))
                grid.add_column(width=KEY_WIDTH + 2, style="bold cyan", overflow="fold")
                grid.add_column(ratio=1, overflow="fold")
                for key, what in rows:
                    grid.add_row(Text(f"  {key}"), Text(what))
                parts.append(grid)
        return Group(*parts)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help"):
            yield Static(f"Keys · {self.target.sub_title or 'this screen'}", classes="dialog-title", markup=False)
            with VerticalScroll(id="help-keys"):
                yield Static(self.keys())
            yield Static("esc close · ↑↓ scroll", classes="dialog-hint")
