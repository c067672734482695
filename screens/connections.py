"""The first screen: the connection profiles, to open, test, add, edit and delete."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header

from screens.base import ExplorerScreen
from screens.messages import ConnectionsUnlocked
from tui.config import ConfigError
from tui.models import PRODUCTS, Connection
from tui.textual_compat import OnceFooter
from widgets.status_line import StatusLine

EDIT_ACTIONS = {"add", "edit", "delete"}
TEST_TIP = "Test: reach the console and check its TLS, then ask for the password (if need be) and log in"


class ConnectionsScreen(ExplorerScreen):
    """Lists `config.connections`; edits are saved atomically, and never over a file that failed to load."""

    BINDINGS = [
        Binding("enter", "open", "Open", priority=True),
        Binding("f", "fleets", "Fleets", tooltip="All fleets: open every connection and merge their devices in one table"),
        Binding("t", "test", "Test", tooltip=TEST_TIP),
        Binding("ctrl+t", "test", "Test", show=False, tooltip=TEST_TIP),  # the connection form's key too
        Binding("a", "add", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("d", "delete", "Delete"),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Read the config file again"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[str] = DataTable(id="connections", cursor_type="row", zebra_stripes=True)
        table.add_columns("Name", "Vendor", "Access", "TLS", "URL", "User")
        yield table
        yield StatusLine(id="status")
        yield OnceFooter()

    def on_mount(self) -> None:
        self.sub_title = "Connections"
        self.show_connections()
        name = self.session.take_open_at_start()
        if name:
            self._open_by_name(name)

    def show_connections(self, select: str | None = None) -> None:
        table = self.query_one("#connections", DataTable)
        table.clear()
        config = self.session.config
        for conn in config.connections.values():
            table.add_row(*map(Text, (  # Text: a str cell is read as markup; "[admin]" is a user name
                conn.name,
                PRODUCTS.get(conn.vendor, conn.vendor),
                "read-only" if conn.read_only else "WRITES",
                "simulated" if conn.name in self.session.transports else conn.tls_label,
                conn.url,
                conn.username,
            )), key=conn.name)
        names = list(config.connections)
        if select in names:
            table.move_cursor(row=names.index(select))
        status = self.query_one("#status", StatusLine)
        if self.session.config_error is not None:
            status.show(
                f"{self.session.config_error} Fix the file and press ctrl+r; nothing will be written to it.",
                error=True,
            )
        elif self.session.demo:
            status.show("Demo: simulated consoles on this machine; changes are kept in memory only.")
        elif not names:
            status.show(f"No connections yet in {config.path}. Press a to add one, or run epx --demo.")
        else:
            count = f"{len(names)} connection{'s' if len(names) != 1 else ''}"
            status.show(f"{config.path} · {count} · enter opens, t tests")
        table.focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in EDIT_ACTIONS and self.session.config_error is not None:
            return False
        if action in {"open", "fleets", "test", "edit", "delete"} and not self.session.config.connections:
            return False
        return True

    def selected(self) -> Connection | None:
        table = self.query_one("#connections", DataTable)
        names = list(self.session.config.connections)
        if not names or not 0 <= table.cursor_row < len(names):
            return None
        return self.session.config.connections[names[table.cursor_row]]

    def action_open(self) -> None:
        connection = self.selected()
        if connection is not None:
            self._open(connection)

    def _open_by_name(self, name: str) -> None:
        connection = self.session.config.connections.get(name)
        if connection is None:
            self.notify(f"No connection named {name!r} in the config.", severity="error", markup=False)
        else:
            self._open(connection)

    def _open(self, connection: Connection) -> None:
        if connection.name in self.session.clients:
            self.post_message(ConnectionsUnlocked([(connection, None)]))
        else:
            self.unlock_and_open(connection)

    @work(group="secret", exclusive=True, exit_on_error=False)
    async def unlock_and_open(self, connection: Connection) -> None:
        can_save = not self.session.demo and self.session.config_error is None
        answer = await self.obtain_secret(connection, can_save=can_save)
        if answer is None:
            return
        await self.session.prepare(connection)
        if answer.save:
            await self._log_in(connection, answer.secret)  # a wrong password raises here and is never saved
            try:
                await self.session.save_password(connection, answer.secret)
            except (ConfigError, OSError) as error:
                self.notify(f"Password not saved: {error}", severity="error", markup=False)
            else:
                self.notify(f"Password of {connection.name} saved in {self.session.config.path}.")
        self.post_message(ConnectionsUnlocked([(connection, answer.secret)]))

    async def _log_in(self, connection: Connection, secret: str) -> None:
        """Log in with the connection's client (kept, so opening does not log in again); on failure the client
        is dropped and the error raised for the app's handler to say."""
        from tui.vendors.base import VendorError  # the clients load with the first one: a faster start

        self.query_one("#status", StatusLine).show(f"Logging in to {connection.name}…")
        client = self.session.client_for(connection, secret)
        try:
            await client.check_login()
        except VendorError:
            await self.session.forget_client(connection.name)
            self.show_connections(select=connection.name)
            raise

    def action_fleets(self) -> None:
        self.unlock_all()

    @work(group="secret", exclusive=True, exit_on_error=False)
    async def unlock_all(self) -> None:
        """Every connection, asking for the passwords the profiles do not give; esc skips one."""
        unlocked: list[tuple[Connection, str | None]] = []
        for connection in self.session.config.connections.values():
            client = self.session.clients.get(connection.name)
            if client is not None and client.connection == connection:
                unlocked.append((connection, None))
                continue
            answer = await self.obtain_secret(connection, can_save=False)
            if answer is not None:
                await self.session.prepare(connection)
                unlocked.append((connection, answer.secret))
        if unlocked:
            self.post_message(ConnectionsUnlocked(unlocked))

    def on_connections_unlocked(self, message: ConnectionsUnlocked) -> None:
        """Build the clients and show their consoles; a profile that cannot make one (an unusable CA
        bundle) is said in words and nothing opens."""
        from tui.vendors.base import VendorError  # the clients load with the first one: a faster start

        try:
            clients = [self.session.client_for(connection, secret) for connection, secret in message.unlocked]
        except VendorError as error:
            self.notify(str(error), title=error.title, severity="error", timeout=10, markup=False)
            return
        from screens.groups import GroupsScreen  # the consoles' screens load when first opened: a faster start

        self.app.push_screen(GroupsScreen(clients))

    def action_test(self) -> None:
        connection = self.selected()
        if connection is not None:
            self.test_connection(connection)

    def action_add(self) -> None:
        from screens.connection_form import ConnectionForm  # the form loads when first opened: a faster start

        self.app.push_screen(ConnectionForm(None, self.session.save_profile), self._after_form)

    def action_edit(self) -> None:
        from screens.connection_form import ConnectionForm  # the form loads when first opened: a faster start

        connection = self.selected()
        if connection is not None:
            self.app.push_screen(ConnectionForm(connection, self.session.save_profile), self._after_form)

    async def _after_form(self, connection: Connection | None) -> None:
        if connection is not None:
            await self.session.forget_client(connection.name)
            self.show_connections(select=connection.name)

    def action_delete(self) -> None:
        from widgets.confirm import ConfirmDialog  # the dialog loads when first asked for: a faster start

        connection = self.selected()
        if connection is None:
            return
        where = "from memory (demo)" if self.session.demo else f"from {self.session.config.path}"
        dialog = ConfirmDialog(
            "Delete connection",
            f"Delete the profile {connection.name} ({connection.url}) {where}?\n"
            "The console itself is not touched.",
            confirm_label="Delete",
            danger=True,
        )
        self.app.push_screen(dialog, lambda yes: self._delete(connection) if yes else None)

    async def _delete(self, connection: Connection) -> None:
        try:
            await self.session.delete_profile(connection.name)
        except (ConfigError, OSError) as error:
            self.notify(f"Not deleted: {error}", severity="error", markup=False)
            return
        self.show_connections()
        self.notify(f"Deleted {connection.name}.")

    async def action_reload(self) -> None:
        if self.session.demo:
            self.notify("Demo connections are built in; there is no file to reload.")
            return
        await self.session.reload_config()
        self.show_connections()
        self.explorer.warn_about_config()
