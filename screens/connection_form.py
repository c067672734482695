"""Add or edit a connection profile; every field is checked and its problem shown right under it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Checkbox, Header, Input, Label, Select, Static

from screens.base import ExplorerScreen
from tui.config import ConfigError, validate_connection
from tui.models import VENDORS, Connection
from tui.textual_compat import OnceFooter
from widgets.confirm import ConfirmDialog
from widgets.status_line import StatusLine

SECRET_SOURCES = [
    ("ask when connecting", "ask"),
    ("environment variable", "env"),
    ("command (no shell)", "command"),
    ("saved in config file", "saved"),
]
SECRET_LABELS = {"ask": "", "env": "Variable", "command": "Command", "saved": "Password"}
# What the vendor calls the account name and where its API usually lives.
USER_LABELS = {"elements": "Client ID"}
URL_HINTS = {
    "sepm": "https://sepm.example.internal:8446",
    "epmm": "https://epmm.example.com",
    "elements": "https://api.connect.withsecure.com",
}
TLS_MODES = [
    ("verify (system CAs)", "verify"),
    ("verify with CA bundle", "ca"),
    ("do NOT verify (lab only)", "off"),
]
# Which form row shows the message `validate_connection` returns for each profile field.
ERROR_ROWS = {
    "name": "name",
    "vendor": "vendor",
    "url": "url",
    "username": "username",
    "domain": "domain",
    "device_space_id": "space",
    "connected_cloud": "space",
    "password_env": "secret",
    "password_command": "secret",
    "password": "secret",
    "verify": "ca",
}


def _row(label: str, widget: Widget, row: str) -> ComposeResult:
    with Horizontal(classes="form-row", id=f"row-{row}"):
        yield Label(label, classes="form-label", id=f"label-{row}")
        yield widget
    yield Static("", classes="form-error", id=f"error-{row}")


class ConnectionForm(ExplorerScreen):
    """Dismisses with the saved profile, or None on Esc. Saving goes through `save`, which may raise."""

    BINDINGS = [  # tab and shift+tab: priority bindings of every ExplorerScreen
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+t", "test", "Test", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    # The focused field must be plain to see over SSH in any theme: its label turns into an accent bar and
    # the field itself is tinted (the compact inputs have no border to light up, and a row is one line high).
    DEFAULT_CSS = """
    ConnectionForm .form-row:focus-within > .form-label {
        background: $accent;
        color: $text;
        text-style: bold;
    }
    ConnectionForm .form-row Input:focus, ConnectionForm .form-row Select:focus-within {
        background: $accent 30%;
    }
    """

    def __init__(self, connection: Connection | None, save: Callable[[Connection, str | None], Awaitable[None]]) -> None:
        super().__init__()
        self.original = connection
        self.save = save

    def compose(self) -> ComposeResult:
        conn = self.original or Connection(name="", vendor="sepm", url="")
        source = (
            "saved" if conn.password is not None
            else "env" if conn.password_env
            else "command" if conn.password_command
            else "ask"
        )
        secret_value = conn.password or conn.password_env or conn.password_command or ""
        tls = "off" if conn.verify is False else "ca" if isinstance(conn.verify, str) else "verify"
        yield Header()
        with VerticalScroll(id="form"):
            yield from _row("Name", Input(conn.name, placeholder="prod-sepm", id="name", compact=True), "name")
            vendors = [(title, key) for key, title in VENDORS.items()]
            yield from _row("Vendor", Select(vendors, value=conn.vendor, allow_blank=False, id="vendor",
                                              compact=True), "vendor")
            yield from _row("URL", Input(conn.url, placeholder=URL_HINTS["sepm"], id="url",
                                         compact=True), "url")
            yield from _row("User", Input(conn.username, placeholder="api-reader", id="username", compact=True),
                            "username")
            yield from _row("Domain", Input(conn.domain, placeholder="(default domain)", id="domain", compact=True),
                            "domain")
            with Horizontal(classes="form-row", id="row-space"):
                yield Label("Space id", classes="form-label")
                yield Input(str(conn.device_space_id), id="space", compact=True, type="integer")
                yield Checkbox("Connected Cloud (rest/ prefix)", conn.connected_cloud, id="cloud", compact=True)
            yield Static("", classes="form-error", id="error-space")
            yield from _row("Password", Select(SECRET_SOURCES, value=source, allow_blank=False, id="source",
                                               compact=True), "source")
            yield from _row(SECRET_LABELS[source] or "Secret",
                            Input(secret_value, id="secret", compact=True, password=source == "saved"), "secret")
            yield from _row("TLS", Select(TLS_MODES, value=tls, allow_blank=False, id="tls", compact=True), "tls")
            yield from _row("CA bundle", Input(conn.verify if isinstance(conn.verify, str) else "",
                                               placeholder="/etc/ssl/corp-ca.pem", id="ca", compact=True), "ca")
            with Horizontal(classes="form-row"):
                yield Label("Options", classes="form-label")
                yield Checkbox("read-only", conn.read_only, id="read_only", compact=True)
                yield Checkbox("allow plain http (lab)", conn.allow_http, id="allow_http", compact=True)
            yield Static("", classes="form-error", id="error-options")
        yield StatusLine(id="status")
        yield OnceFooter()

    def on_mount(self) -> None:
        self.sub_title = f"Edit {self.original.name}" if self.original else "New connection"
        self._show_conditional_rows()
        self.query_one("#name", Input).focus()
        self.query_one("#status", StatusLine).show("ctrl+s save · ctrl+t test · esc cancel · tab next field")
        self.start = self.build()  # what Esc compares against

    @on(Select.Changed, "#source, #tls, #vendor")
    def _show_conditional_rows(self) -> None:
        vendor = str(self.query_one("#vendor", Select).value)
        self.query_one("#row-domain").display = vendor == "sepm"
        self.query_one("#row-space").display = vendor == "epmm"
        self.query_one("#label-username", Label).update(USER_LABELS.get(vendor, "User"))
        self.query_one("#url", Input).placeholder = URL_HINTS.get(vendor, "https://")
        source = self.query_one("#source", Select).value
        self.query_one("#row-secret").display = source != "ask"
        self.query_one("#label-secret", Label).update(SECRET_LABELS.get(str(source), "") or "Secret")
        self.query_one("#secret", Input).password = source == "saved"
        self.query_one("#row-ca").display = self.query_one("#tls", Select).value == "ca"

    def build(self) -> Connection:
        """The profile as currently typed (not yet validated)."""
        value = lambda widget_id: self.query_one(f"#{widget_id}", Input).value.strip()  # noqa: E731
        vendor = str(self.query_one("#vendor", Select).value)
        source = self.query_one("#source", Select).value
        secret = self.query_one("#secret", Input).value
        tls = self.query_one("#tls", Select).value
        return Connection(
            name=value("name"),
            vendor=str(self.query_one("#vendor", Select).value),
            url=value("url"),
            username=value("username"),
            domain=value("domain") if vendor == "sepm" else "",
            password_env=secret.strip() if source == "env" else None,
            password_command=secret.strip() if source == "command" else None,
            password=secret if source == "saved" else None,
            verify=value("ca") if tls == "ca" else tls != "off",
            allow_http=self.query_one("#allow_http", Checkbox).value,
            read_only=self.query_one("#read_only", Checkbox).value,
            device_space_id=int(value("space") or 0) if vendor == "epmm" else 1,
            connected_cloud=vendor == "epmm" and self.query_one("#cloud", Checkbox).value,
        )

    def validated(self) -> Connection | None:
        """The profile when every field is valid; otherwise each problem is shown under its field."""
        connection = self.build()
        others = [name for name in self.session.config.connections if not self.original or name != self.original.name]
        problems = validate_connection(connection, others=others)
        if connection.verify == "":
            problems["verify"] = "give the path of the CA bundle (PEM)"
        shown: dict[str, str] = {}
        for field, message in problems.items():
            row = ERROR_ROWS.get(field, "options")
            shown[row] = f"{shown[row]}; {message}" if row in shown else message
        for error in self.query(".form-error").results(Static):
            row = (error.id or "").removeprefix("error-")
            error.update(shown.get(row, ""))
            error.set_class(row in shown, "-shown")
        if problems:
            self.query_one("#status", StatusLine).show(
                f"{len(problems)} field{'s' if len(problems) > 1 else ''} to fix before saving.", error=True
            )
            return None
        return connection

    async def action_save(self) -> None:
        connection = self.validated()
        if connection is None:
            return
        try:
            await self.save(connection, self.original.name if self.original else None)
        except (ConfigError, OSError) as error:
            self.query_one("#status", StatusLine).show(f"Not saved: {error}", error=True)
            return
        self.notify(f"Saved {connection.name}.")
        self.dismiss(connection)

    def action_test(self) -> None:
        connection = self.validated()
        if connection is not None:
            self.test_connection(connection)

    def action_cancel(self) -> None:
        """Close at once when nothing was typed; otherwise ask first, so a stray Esc loses no work."""
        if self.build() == self.start:
            self.dismiss(None)
            return
        what = f"the changes to {self.original.name}" if self.original else "this new connection"
        self.app.push_screen(
            ConfirmDialog("Discard changes?", f"Esc closes the form without saving {what}.",
                          confirm_label="Discard", cancel_label="Keep editing", danger=True),
            lambda discard: self.dismiss(None) if discard else None,
        )
