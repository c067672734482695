"""`?`: every key of the screen underneath, including the ones the footer has no room for."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

GENERIC_ACTIONS = {"app.focus_next", "app.focus_previous", "focus_next", "focus_previous", "screen.copy_text",
                   "copy_text"}
EVERYWHERE = [
    ("ctrl+p", "Command palette: every action by name"),
    ("?", "This help"),
    ("tab / shift+tab", "Next / previous pane"),
    ("ctrl+q", "Quit"),
]


class HelpScreen(ModalScreen[None]):
    """Keys of the screen first, then the ones that work everywhere, then the focused widget's own."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

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

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help"):
            yield Static(f"Keys · {self.target.sub_title or 'this screen'}", classes="dialog-title", markup=False)
            table: DataTable[Text | str] = DataTable(cursor_type="row", show_header=False)
            table.add_columns("Key", "Action")
            for title, rows in self.sections():
                if rows:
                    table.add_row(Text(title, style="bold"), "")
                    table.add_rows((Text(f"  {key}", style="bold cyan"), what)
                                   for key, what in rows)
            yield table
            yield Static("esc close · ↑↓ scroll", classes="dialog-hint")
