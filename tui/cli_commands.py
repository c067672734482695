"""`epx` sub-commands: the explorer's data without a terminal UI, for scripts and pipes, and the full command
line parser (`epx --help`). tui/cli.py starts the UI itself and comes here for anything else.

Exit codes: 0 ok, 2 usage or configuration error, 3 authentication error, 4 network or server error (or no
snapshot new enough to answer from: --offline, changes),
5 not available for the connection's vendor (e.g. fingerprint lists on EPMM or Elements), 6 standard output
or the --log file could not be written, 130 interrupted, 141 the reader of standard output went away (quietly);
the UI alone ends 129 when its terminal hangs up. Errors go to stderr as one sentence that never contains a secret.

A table fits the terminal: on a terminal (standard output a tty) its width, COLUMNS when set, decides which
columns are shown, most important first; a pipe, a file and --wide get every column, no cell cut.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import getpass
import os
import shlex
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.cells import cell_len, set_cell_size

from tui.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
    common_options,
    fail,
    run_ui,
    ui_options,
    warn,
    with_request_log,
)
from tui.config import (
    Config,
    ConfigError,
    SecretError,
    load_config,
    permission_warning,
    resolve_config_path,
    resolve_secret,
)
from tui.export import age_text, cell, write_csv, write_devices, write_json
from tui.hashes import HashError, parse_hash
from tui.inventory import DeviceFilter, split_group_path
from tui.models import (
    VENDORS,
    Connection,
    Device,
    DevicePage,
    DeviceQuery,
    Event,
    EventWindow,
    FingerprintList,
    Group,
    Severity,
    iso_utc,
    left_out,
    parse_time_bound,
)
from tui.respond import (
    ACTIONS,
    MESSAGE_MAX,
    actions_log,
    any_failed,
    device_list_words,
    respond_and_log,
)
from tui.simulators import MAX_FLEET, SIMULATED_VENDORS, build_simulator
from tui.simulators.faults import FAULTS, FaultError, parse_fault
from tui.snapshots import SnapshotError
from tui.state import KnownList, StateError, StateStore, resolve_state_path
from tui.vendors import CLIENTS, open_client
from tui.vendors.base import (
    AuthenticationError,
    ForbiddenError,
    NotAvailableError,
    NotFoundError,
    VendorClient,
    VendorError,
    waits_told_to,
)
from tui.vendors.facets import EventSource, FingerprintLists, LabelMembership, ResponseActions

EXIT_AUTH, EXIT_NETWORK = 3, 4
EXIT_UNAVAILABLE = 5
EXIT_REFUSED = 7
"""`epx respond`: the console refused the action, or it failed, on at least one device."""
EXIT_PIPE = 128 + signal.SIGPIPE
"""The reader of standard output went away (`epx devices | head -1`): quiet, as if killed by SIGPIPE."""
GROUP_FIELDS = ["id", "name", "path", "parent_id", "device_count"]
EXIT_CODES = """exit codes:
  0    ok
  2    usage or configuration error
  3    authentication error
  4    network or server error; no snapshot, or none new enough (--offline, changes)
  5    not available for the connection's vendor or its API user
  6    standard output or the --log file could not be written
  7    epx respond: the action was refused or failed on some or all devices
  129  the terminal hung up (the UI)
  130  interrupted (ctrl+c)
  141  the reader of standard output went away"""
FORMAT_HELP = "json or csv records for scripts, or a table for people (default: %(default)s)"
WIDE_HELP = "every column in the table, even on a terminal too narrow for them"


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, but each line of a description or epilog is its own paragraph and an indented line is
    kept as written, so the exit codes stay a list while a long description still wraps to the terminal."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line if line.startswith(" ") else super(HelpFormatter, self)._fill_text(
            line, width, indent) for line in text.splitlines())


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    common = common_options(defaults=False)
    parser = argparse.ArgumentParser(prog="epx", parents=[ui_options()],
                                     description="Explore endpoint-security consoles from the terminal.",
                                     epilog=EXIT_CODES, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name, what in (("devices", "list devices"), ("groups", "list groups")):
        sub = commands.add_parser(name, parents=[common], help=what, epilog=EXIT_CODES,
                                  formatter_class=HelpFormatter,
                                  description=f"{what.capitalize()} as json, csv or a table.")
        add_connection_and_format(sub)
        if name == "devices":
            sub.add_argument("--critical", action="store_true", help="only devices whose health is critical")
            sub.add_argument("--missing-patch", action="store_true", help="only devices missing critical patches")
            sub.add_argument("--group", metavar="PATH", help="only this group and its sub-groups (\\ or / between levels)")
            sub.add_argument("--offline", action="store_true",
                             help="read the connection's latest snapshot instead of its console")
            sub.add_argument("--max-age", metavar="DURATION",
                             help="with --offline: fail (exit 4) when the latest snapshot is older (15m, 1h, 7d)")

    add_fingerprints_parser(commands, common)
    add_events_parser(commands, common)
    add_respond_parsers(commands, common)
    from tui import cli_history  # here, not at the top: it builds on this module's helpers

    cli_history.add_parsers(commands, common)

    simulate = commands.add_parser(
        "simulate", help="serve a simulated console on loopback", epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
        description="Serve a simulated console on loopback. Faults: "
        + "; ".join(f"{name}: {what}" for name, what in FAULTS.items()) + ".",
    )
    simulate.add_argument("vendor", choices=SIMULATED_VENDORS)
    simulate.add_argument("--port", type=int, default=8446, help="port to listen on (default: %(default)s)")
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    simulate.add_argument("--size", type=int, default=500,
                          help="devices in the fleet, up to 200,000 (default: %(default)s)")
    simulate.add_argument("--seed", type=int, default=7, help="seed of the generated fleet (default: %(default)s)")
    simulate.add_argument("--tls", action="store_true", help="serve https with a fresh test CA (its PEM path is printed)")
    simulate.add_argument("--fault", action="append", default=[], metavar="KIND[=VALUE][@PATH]",
                          help="inject a fault into every matching request, e.g. latency=50 or 429=7 (repeatable)")
    simulate.add_argument("--cache-pages", action="store_true",
                          help="answer a repeated GET from memory (benchmarks only: it skips the credential check)")
    return parser


def add_connection_and_format(sub: argparse.ArgumentParser) -> None:
    """--connection, --format and --wide, alike for every sub-command that prints records."""
    sub.add_argument("--connection", required=True, metavar="NAME", help="the connection profile to read")
    add_format(sub)


def add_format(sub: argparse.ArgumentParser, formats: tuple[str, ...] = ("json", "csv", "table")) -> None:
    """--format and --wide, alike for every sub-command that prints records."""
    sub.add_argument("--format", choices=formats, default="table", help=FORMAT_HELP)
    sub.add_argument("--wide", action="store_true", help=WIDE_HELP)


def main(argv: Sequence[str] | None = None) -> int:
    return with_request_log(build_parser().parse_args(argv), run_command)


def run_command(args: argparse.Namespace) -> int:
    """The command asked for; each failure is one sentence on stderr and its exit code."""
    try:
        if args.command == "simulate":
            return simulate(args)
        if args.command in ("devices", "groups"):
            return print_records(export, args)
        if args.command == "fingerprints":
            return print_records(fingerprints, args)
        if args.command == "events":
            return print_records(events, args)
        if args.command == "respond":
            return print_records(respond, args)
        if args.command == "actions":
            return print_records(actions, args)
        if args.command in ("snapshots", "changes", "coverage"):
            from tui import cli_history

            return print_records(cli_history.COMMANDS[args.command], args)
        return run_ui(args)
    except (ConfigError, SecretError, UsageError) as error:
        return fail(str(error), EXIT_USAGE)
    except UnavailableError as error:
        return fail(str(error), EXIT_UNAVAILABLE)
    except (AuthenticationError, ForbiddenError) as error:
        return fail(str(error), EXIT_AUTH)
    except (VendorError, SnapshotError) as error:
        return fail(str(error), EXIT_NETWORK)
    except OutputError as error:
        return output_failed(error.cause)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


class OutputError(Exception):
    """Standard output took no more: its reader went away (`head -1`) or the disk is full."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class GuardedOutput:
    """Standard output for a command that prints records: a failed write or flush is an `OutputError`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as error:
            raise OutputError(error) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            raise OutputError(error) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def say_wait(reason: str | None) -> None:
    if reason:
        warn(reason)


def print_records(command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]], args: argparse.Namespace) -> int:
    """Run `command` with a guarded standard output, flushed before the command counts as done; a client that
    pauses (a rate limit, a retry) says why on standard error."""
    stdout = sys.stdout
    sys.stdout = GuardedOutput(stdout)
    try:
        with waits_told_to(say_wait):
            code = asyncio.run(command(args))
        sys.stdout.flush()
        return code
    finally:
        sys.stdout = stdout


def output_failed(cause: OSError) -> int:
    """A reader that went away ends epx quietly with 141, as if SIGPIPE had (the shell's convention, what
    `set -o pipefail` sees); any other failure is said. Either way what is still buffered goes nowhere, so
    Python's own flush at exit has nothing to complain about."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    if isinstance(cause, BrokenPipeError):
        return EXIT_PIPE
    return fail(f"cannot write to standard output ({cause.strerror or cause}).", EXIT_OUTPUT)


def named_connection(config: Config, name: str) -> Connection:
    """The profile called `name`; a usage error naming the known ones when there is none."""
    connection = config.connections.get(name)
    if connection is None:
        raise UsageError(f"No connection named {name!r} (known: {', '.join(config.connections) or 'none'}).")
    return connection


def load(args: argparse.Namespace) -> tuple[Config, dict[str, Any]]:
    """The config to use and, in demo mode, the in-process transports of the simulated consoles."""
    if args.demo:
        from tui.demo import build_demo

        demo = build_demo(size=args.demo_size, writes=args.demo_writes)
        return demo.config, demo.transports
    path = resolve_config_path(args.config)
    config = load_config(path)
    if config.loaded is None or config.loaded.digest is None:  # the UI starts empty there; a command has nothing
        ui = f"epx --config {shlex.quote(str(path))}" if args.config else "epx"
        raise UsageError(f"no config file at {path}; create it with `{ui}` (the UI) or write it by hand "
                         "(README: Configuration).")
    if warning := permission_warning(config):
        warn(f"warning: {warning}")
    return config, {}


def cli_secret(connection: Connection) -> str | None:
    secret = resolve_secret(connection)
    if secret is None and sys.stdin.isatty():
        secret = getpass.getpass(f"Password for {connection.username} on {connection.name}: ")
    if secret is None:
        raise SecretError(
            f"Connection {connection.name} names no password source; set password_env or password_command "
            "in its profile, or run epx in a terminal to be asked."
        )
    return secret


def cli_client(config: Config, transports: dict[str, Any], connection: Connection, *,
               warn_unverified: bool = True) -> VendorClient:
    """A client for `connection` with the config's paging and timeout, its password from `cli_secret`; an
    unverified TLS connection is said on stderr first, unless `warn_unverified` is off."""
    if warn_unverified and connection.verify is False and connection.url.startswith("https://"):
        warn(f"warning: the TLS certificate of {connection.name} is not verified (verify = false).")
    return open_client(connection, cli_secret(connection), transport=transports.get(connection.name),
                       page_concurrency=config.settings.page_concurrency,
                       request_timeout=config.settings.request_timeout)


async def export(args: argparse.Namespace) -> int:
    if args.command == "devices" and (args.offline or args.max_age):
        from tui import cli_history

        return print_devices(await cli_history.offline_devices(args), args)
    config, transports = load(args)
    connection = named_connection(config, args.connection)
    client = cli_client(config, transports, connection)
    devices: list[Device] = []
    skipped = repaired = 0
    try:
        if args.command == "groups":
            groups = await client.groups()
        else:
            wanted = DeviceFilter(
                critical=args.critical,
                missing_patch=args.missing_patch,
                group=split_group_path(args.group or ""),
            )
            query = DeviceQuery(critical=args.critical, missing_patch=args.missing_patch)
            pages: AsyncIterator[DevicePage] = client.devices(query)
            if wanted.group:
                group = named_group(await client.groups(), wanted.group)
                # a label's members are known only by searching with it (EPMM)
                if isinstance(client, LabelMembership) and (labels := client.label_ids(group.id)):
                    pages = client.label_devices(labels)
            chosen: dict[str, Device] = {}  # a device in several labels comes once per label
            async for page in pages:
                chosen.update((device.id, device) for device in page.devices
                              if device.id not in chosen and wanted.matches(device))
                skipped, repaired = skipped + page.skipped, repaired + page.repaired
            devices = list(chosen.values())
            if wanted == DeviceFilter():  # a complete load: kept as a snapshot
                from tui import cli_history

                await cli_history.keep_snapshot(args, client, devices)
    finally:
        await client.aclose()
    say_left_out(skipped, repaired, "device")
    if args.command == "groups":
        records = [group.to_json() for group in groups]
        write_records(args, records, GROUP_FIELDS, lambda: render_table(
            GROUP_COLUMNS, record_rows(records, GROUP_COLUMNS), table_width(args), keep=2))
    else:
        print_devices(devices, args)
    return EXIT_OK


def write_records(args: argparse.Namespace, records: list[dict[str, Any]], fields: Sequence[str],
                  table: Callable[[], str]) -> None:
    """The records in the --format asked for: CSV with these columns, JSON, or the text `table` draws."""
    if args.format == "csv":
        write_csv(sys.stdout, records, fields)
    elif args.format == "json":
        write_json(sys.stdout, records)
    else:
        sys.stdout.write(table())


def print_devices(devices: Sequence[Device], args: argparse.Namespace) -> int:
    if args.format == "table":
        now = datetime.now(UTC)
        sys.stdout.write(render_table(DEVICE_COLUMNS, [device_row(device, now) for device in devices],
                                      table_width(args), keep=4))
    else:
        write_devices(sys.stdout, devices, args.format)  # the same csv / json as the UI's export
    return EXIT_OK


def named_group(groups: Sequence[Group], path: tuple[str, ...]) -> Group:
    """The group at `path` (compared without case); a usage error naming the closest paths otherwise."""
    wanted = tuple(part.casefold() for part in path)
    for group in groups:
        if tuple(part.casefold() for part in group.path) == wanted:
            return group
    texts = {group.path_text.casefold(): group.path_text for group in groups}
    close = difflib.get_close_matches("\\".join(wanted), list(texts), n=3, cutoff=0.5)
    close += [key for key in texts if wanted[-1] in key and key not in close][: 3 - len(close)]
    quoted = ", ".join("'" + texts[key] + "'" for key in close)
    hint = f" Did you mean {quoted}?" if close else ""
    named = "\\".join(path)
    raise UsageError(f"No group named '{named}' on this connection.{hint} `epx groups` lists them.")


def say_left_out(skipped: int, repaired: int, noun: str) -> None:
    """Say once on stderr what the console sent that is not in the output as it came."""
    for words in left_out(skipped, repaired, noun):
        warn(f"note: {words}.")


DEVICE_COLUMNS = ["name", "health", "seen", "patches", "ip", "group", "os", "user", "connection", "id", "vendor"]
"""The device table's columns, most important first: a narrow terminal keeps the first ones."""
GROUP_COLUMNS = ["path", "device_count", "id", "name", "parent_id"]
PATCH_WORDS = {True: "missing", False: "ok", None: "-"}


def device_row(device: Device, now: datetime) -> list[str]:
    """A device's cells under DEVICE_COLUMNS: when it was last seen as an age, as the UI says it, and its first
    address with the count of the others (an IPv6 or two would push the column off an 80-column terminal)."""
    seen = "online" if device.online else age_text(device.last_seen, now)
    ip, *others = device.ip_addresses or ("",)
    if others:
        ip += f" +{len(others)}"
    health = f"{device.health.value} ({device.state})" if device.state else device.health.value
    return [device.name, health, seen, PATCH_WORDS[device.missing_critical_patches], ip, device.group,
            device.os, device.user, device.connection, device.id, device.vendor]


def record_rows(records: list[dict[str, Any]], columns: Sequence[str]) -> list[list[str]]:
    """The records' cells under `columns`, as in CSV."""
    return [[cell(record[column]) for column in columns] for record in records]


def table_width(args: argparse.Namespace) -> int | None:
    """The width a table must fit, or None for every column, uncut: a pipe or a file is read by a program or
    scrolled sideways, and --wide asks for all. A terminal's width is what `shutil` says: COLUMNS when set,
    else the terminal's own, so `COLUMNS=300 epx devices` shows every column there too."""
    if args.wide or not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None,
                 keep: int = 1) -> str:
    """Aligned columns for a human, widths measured in terminal cells (a CJK character takes two).

    Given a `width`, no cell takes more than half of it (one long name does not push the other columns out),
    the columns after the first `keep` that do not fit are left out, and if the kept ones are still too wide
    the widest are cut; a cut cell ends in "…". A header is never cut.
    """
    widths = [max([cell_len(header)] + [cell_len(row[i]) for row in rows]) for i, header in enumerate(headers)]
    if width is not None:
        widths = fitted_widths(widths, [cell_len(header) for header in headers], width, keep)
    lines = ["  ".join(fit_cell(text, size) for text, size in zip(line, widths)).rstrip() for line in [headers, *rows]]
    return "\n".join(lines) + "\n"


def fitted_widths(widths: list[int], headers: list[int], width: int, keep: int) -> list[int]:
    """The widths of the columns shown at `width` (a prefix of `widths`); see `render_table`."""
    widths = [min(size, max(header, width // 2)) for size, header in zip(widths, headers)]
    while len(widths) > keep and sum(widths) + 2 * (len(widths) - 1) > width:
        widths.pop()
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    while excess > 0:
        widest = max(range(len(widths)), key=lambda i: widths[i] - headers[i])
        if widths[widest] <= headers[widest]:
            break  # even the headers do not fit: the terminal wraps what is left
        widths[widest] -= 1
        excess -= 1
    return widths


def fit_cell(text: str, size: int) -> str:
    """`text` padded to `size` cells, or cut to `size` with "…" as its last cell."""
    if cell_len(text) > size:
        text = set_cell_size(text, size - 1) + "…"
    return set_cell_size(text, size)


def simulate(args: argparse.Namespace) -> int:
    from tui.simulators.serve import serve_forever

    if not 1 <= args.size <= MAX_FLEET:
        raise UsageError(f"--size must be between 1 and {MAX_FLEET:,}.")
    try:
        faults = [parse_fault(spec, times=None) for spec in args.fault]
    except FaultError as error:
        raise UsageError(str(error)) from None
    simulated = build_simulator(args.vendor, size=args.size, seed=args.seed)
    for fault in faults:
        simulated.simulator.faults.add_fault(fault)
    if args.cache_pages:
        simulated.simulator.faults.cached_answers = {}
    tls = None
    scheme = "http"
    if args.tls:
        from tui.simulators.serve import make_test_tls

        tls, ca_path = make_test_tls(args.host)
        scheme = "https"
        print(f"CA certificate (use as `verify`): {ca_path}")
    print(f"Simulated {args.vendor} at {scheme}://{args.host}:{args.port} "
          f"(user {simulated.username}, password {simulated.password}); ctrl+c stops.", flush=True)
    serve_forever(simulated.app, host=args.host, port=args.port, tls=tls)
    return EXIT_OK


# --- epx fingerprints (issue 5) ------------------------------------------------------------------------------

FINGERPRINT_FIELDS = ["connection", "id", "name", "hash_type", "source", "description", "groups", "hash_count",
                      "hashes"]
"""A fingerprint list record: `groups` are the paths of the groups it is assigned to (levels joined by \\)."""
FINGERPRINT_TABLE_COLUMNS = ["name", "hash_count", "hash_type", "groups", "source", "description", "id", "connection"]
"""The table's columns, most important first; the hashes themselves are in json and csv."""


class UnavailableError(Exception):
    """What was asked does not exist for the connection's vendor (exit 5)."""


def add_fingerprints_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = commands.add_parser(
        "fingerprints", parents=[common], help="SEPM fingerprint lists (file hashes)", epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
        description="SEPM fingerprint lists as json, csv or a table: the lists named with --name, else those "
                    "this connection opened before (SEPM cannot list them all). --hash keeps the lists that "
                    "hold that MD5 or SHA-256.",
    )
    sub.add_argument("--name", action="append", default=[], metavar="LIST",
                     help="open this list by name (repeatable); it is remembered for next time")
    sub.add_argument("--hash", metavar="HASH", help="only the lists holding this MD5 or SHA-256 (any case)")
    add_connection_and_format(sub)


def fingerprint_record(listing: FingerprintList, connection: str, group_paths: dict[str, str]) -> dict[str, Any]:
    return {
        "connection": connection,
        "id": listing.id,
        "name": listing.name,
        "hash_type": listing.hash_type,
        "source": listing.source,
        "description": listing.description,
        "groups": [group_paths.get(group_id, group_id) for group_id in listing.group_ids],
        "hash_count": len(listing.hashes),
        "hashes": list(listing.hashes),
    }


async def fingerprints(args: argparse.Namespace) -> int:
    """`epx fingerprints`: named lists (remembered afterwards) or the remembered ones, optionally by hash."""
    config, transports = load(args)
    connection = named_connection(config, args.connection)
    if not issubclass(CLIENTS[connection.vendor], FingerprintLists):
        raise UnavailableError(
            f"Fingerprint lists are not available for {VENDORS[connection.vendor]} connections such as "
            f"{connection.name}: only SEPM has them."
        )
    try:
        wanted = parse_hash(args.hash) if args.hash is not None else None
    except HashError as error:
        raise UsageError(f"--hash: {error}") from None
    names = [name.strip() for name in args.name if name.strip()]
    state = StateStore(None if args.demo else resolve_state_path())
    try:
        remembered = [] if names else state.known_lists(connection.name)
    except StateError as error:
        warn(f"warning: {error}")
        remembered = []
    if not names and not remembered:
        warn(f"no fingerprint lists are remembered for {connection.name} yet; open one with --name "
              "(SEPM cannot list them all).")
    client = cli_client(config, transports, connection)
    assert isinstance(client, FingerprintLists)  # its class was checked above, before any input was read
    lists: list[FingerprintList] = []
    gone: list[KnownList] = []
    group_paths: dict[str, str] = {}
    try:
        for name in names:
            lists.append(await client.fingerprint_list(name))
        for known_list in remembered:
            try:
                lists.append(await client.fingerprint_list_by_id(known_list.id))
            except NotFoundError:
                gone.append(known_list)
        if any(listing.group_ids for listing in lists):
            group_paths = {group.id: group.path_text for group in await client.groups()}
    finally:
        await client.aclose()
    try:
        for known_list in gone:
            warn(f"fingerprint list {known_list.name!r} ({known_list.id}) no longer exists on {connection.name}; "
                 "forgotten.")
            state.forget_list(connection.name, known_list.id)
        for listing in lists[: len(names)]:
            state.remember_list(connection.name, listing)
    except StateError as error:
        warn(f"warning: {error}")
    if wanted is not None:
        searched = len(lists)
        lists = [listing for listing in lists if wanted.value in listing.hashes]
        if not lists:
            warn(f"{wanted.label} {wanted.value} is on none of the {searched} lists searched.")
    records = [fingerprint_record(listing, connection.name, group_paths) for listing in lists]
    write_records(args, records, FINGERPRINT_FIELDS, lambda: render_table(
        FINGERPRINT_TABLE_COLUMNS, record_rows(records, FINGERPRINT_TABLE_COLUMNS), table_width(args), keep=2))
    return EXIT_OK


# --- epx events (issue 6) ------------------------------------------------------------------------------------

EVENT_FIELDS = ["vendor", "connection", "id", "time", "severity", "engine", "category", "device_id", "device_name",
                "organization", "title", "message", "acknowledged", "source"]
"""An event record (README "Events"); CSV has the same columns."""
EVENT_COLUMNS = ["time", "severity", "device", "title", "engine", "category", "connection", "organization",
                 "acknowledged", "source", "device_id", "id", "vendor"]
"""The event table's columns, most important first; the message, often several lines, is in json and csv."""


def event_row(event: Event) -> list[str]:
    """An event's cells under EVENT_COLUMNS: its device by name, or by id when the event names none."""
    record = event.to_json()
    record["device"] = event.device_name or event.device_id
    return [cell(record[column]) for column in EVENT_COLUMNS]


def add_events_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = commands.add_parser(
        "events", parents=[common], help="events in a time window", epilog=EXIT_CODES, formatter_class=HelpFormatter,
        description="Events of a connection in a time window, newest first, as json, csv or a table. --since and "
                    "--until take a duration back from now (15m, 1h, 24h, 7d) or an RFC 3339 time with Z or an "
                    "offset (2025-06-01T10:00:00+02:00).",
    )
    sub.add_argument("--since", default="24h", metavar="WHEN", help="start of the window (default: 24h)")
    sub.add_argument("--until", metavar="WHEN", help="end of the window (default: now)")
    sub.add_argument("--severity", metavar="S[,S]", help="only these severities: critical, warning, info, unknown")
    sub.add_argument("--engine", metavar="NAME", help="only this engine or category (e.g. epp, fileScanning, "
                                                      "notification, command)")
    sub.add_argument("--device", metavar="ID_OR_NAME", help="only events of this device")
    sub.add_argument("--organization", metavar="ID", help="Elements: only this organization (company)")
    add_connection_and_format(sub)


def event_window(args: argparse.Namespace, now: datetime) -> EventWindow:
    """The window `epx events` asks for; a `UsageError` says what is wrong with the options."""
    try:
        start = parse_time_bound(args.since, now)
    except ValueError as error:
        raise UsageError(f"--since: {error}") from None
    try:
        end = parse_time_bound(args.until, now) if args.until else now
    except ValueError as error:
        raise UsageError(f"--until: {error}") from None
    if start > end:
        raise UsageError(f"--since ({iso_utc(start)}) is after --until ({iso_utc(end)}).")
    severities: set[Severity] = set()
    for word in (args.severity or "").split(","):
        if word.strip():
            try:
                severities.add(Severity(word.strip().lower()))
            except ValueError:
                raise UsageError(
                    f"--severity: {word.strip()!r} is not one of critical, warning, info, unknown.") from None
    return EventWindow(start=start, end=end, severities=frozenset(severities),
                       engine=(args.engine or "").strip() or None,
                       organization_id=(args.organization or "").strip() or None)


async def events(args: argparse.Namespace) -> int:
    """`epx events`: every event of the window, newest first; notes about sources left out go to stderr."""
    config, transports = load(args)
    connection = named_connection(config, args.connection)
    window = event_window(args, datetime.now(UTC))
    if window.organization_id and connection.vendor != "elements":
        raise UsageError("--organization applies to Elements connections only.")
    if not issubclass(CLIENTS[connection.vendor], EventSource):
        raise UnavailableError(f"Events are not available for {VENDORS[connection.vendor]} connections.")
    client = cli_client(config, transports, connection)
    assert isinstance(client, EventSource)  # its class was checked above, before any input was read
    found: list[Event] = []
    device = (args.device or "").strip().casefold()
    skipped = repaired = 0
    try:
        async for page in client.events(window):
            found.extend(event for event in page.events if not device or device in (
                (event.device_id or "").casefold(), (event.device_name or "").casefold()))
            skipped, repaired = skipped + page.skipped, repaired + page.repaired
            for note in page.notes:
                warn(f"note: {note}")
    except NotAvailableError as error:
        raise UnavailableError(str(error)) from None
    finally:
        await client.aclose()
    say_left_out(skipped, repaired, "event")
    found.sort(key=lambda event: (-event.time.timestamp(), event.id))
    records = [event.to_json() for event in found]
    write_records(args, records, EVENT_FIELDS, lambda: render_table(
        EVENT_COLUMNS, [event_row(event) for event in found], table_width(args), keep=4))
    return EXIT_OK


# --- epx respond and epx actions (issue 18) ------------------------------------------------------------------

ACTION_LOG_COLUMNS = ["time", "connection", "action", "devices", "accepted", "failed", "operator", "message"]


def add_respond_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = commands.add_parser(
        "respond", parents=[common], help="act on devices: isolate, quarantine, scan, show a message",
        epilog=EXIT_CODES, formatter_class=HelpFormatter,
        description="Send a response action to devices and follow it to the end; prints a JSON record per "
        "device. Writes need a connection with read_only = false. Without --yes, a terminal asks for "
        "confirmation and anything else is refused. Every action sent is appended to the actions log "
        "($EPX_ACTIONS_LOG, else the user data directory; see `epx actions`).",
    )
    sub.add_argument("--connection", required=True, metavar="NAME", help="the connection profile to act through")
    sub.add_argument("--action", required=True, choices=list(ACTIONS),
                     help="what to do (each console offers some: Elements isolate, release, scan, message; SEPM "
                     "quarantine, unquarantine, scan, fullscan, update; EPMM message)")
    chosen = sub.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--device", action="append", metavar="ID", help="a device id (repeatable)")
    chosen.add_argument("--filter", choices=("critical",), help="every device of this filter")
    sub.add_argument("--message", default="", metavar="TEXT",
                     help=f"what the device's user sees (isolate, message; at most {MESSAGE_MAX} characters)")
    sub.add_argument("--yes", action="store_true", help="do not ask; needed when standard input is not a terminal")
    sub.add_argument("--no-follow", action="store_true", help="print what the console accepted without following")
    actions_log = commands.add_parser(
        "actions", parents=[common], help="list the response actions sent (the actions log)", epilog=EXIT_CODES,
        formatter_class=HelpFormatter, description="The actions log: every response action sent, oldest first.")
    actions_log.add_argument("--connection", metavar="NAME", help="only the actions sent through this connection")
    add_format(actions_log, ("json", "table"))


async def respond(args: argparse.Namespace) -> int:
    """`epx respond`: the read-only gate, the devices, the confirmation, the action, the log, the follow."""
    config, transports = load(args)
    connection = named_connection(config, args.connection)
    if connection.read_only:
        raise UsageError(f"Connection {connection.name} is read-only, so nothing was sent; set read_only = false in "
                         "its profile to allow response actions (with --demo: --demo-writes).")
    if not args.yes and not sys.stdin.isatty():
        raise UsageError("refusing to act without --yes: standard input is not a terminal, so nobody can confirm; "
                         "nothing was sent.")
    spec = ACTIONS[args.action]
    client = cli_client(config, transports, connection, warn_unverified=False)
    try:
        if not isinstance(client, ResponseActions) or args.action not in client.offered_actions():
            offered = ", ".join(client.offered_actions()) if isinstance(client, ResponseActions) else "none"
            raise UnavailableError(f"{VENDORS[connection.vendor]} connections such as {connection.name} cannot "
                                   f"{spec.verb} devices (actions offered: {offered}).")
        devices = await respond_targets(client, args)
        confirm_response(connection.name, VENDORS[connection.vendor], args, devices)
        log = actions_log(demo=args.demo)
        try:
            results, log_problem = await respond_and_log(
                client, log, connection=connection.name, vendor=connection.vendor, action=args.action,
                devices=devices, message=args.message)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if log_problem:
            warn(f"warning: {log_problem}.")
        if not args.no_follow:
            settled = sum(result.final for result in results)
            async for update in client.follow_response(args.action, results):
                results = update
                if sum(result.final for result in results) != settled:
                    settled = sum(result.final for result in results)
                    warn(f"following: {settled} of {len(results)} devices final")
    finally:
        await client.aclose()
    write_json(sys.stdout, [{"connection": connection.name, "vendor": connection.vendor, "action": args.action,
                             **result.to_json()} for result in results])
    return EXIT_REFUSED if any_failed(results) else EXIT_OK


async def respond_targets(client: VendorClient, args: argparse.Namespace) -> list[Device]:
    """The devices named by --device (each must exist: nothing is sent otherwise) or --filter critical."""
    wanted = DeviceFilter(critical=args.filter == "critical")
    found: dict[str, Device] = {}
    async for page in client.devices(DeviceQuery(critical=wanted.critical)):
        found.update((device.id, device) for device in page.devices if wanted.matches(device))
    if args.filter:
        if not found:
            raise UsageError(f"No {args.filter} device on {args.connection}; nothing was sent.")
        return list(found.values())
    ids = list(dict.fromkeys(args.device))
    missing = [device_id for device_id in ids if device_id not in found]
    if missing:
        raise UsageError(f"No device {missing[0]!r} on {args.connection}"
                         + (f" (and {len(missing) - 1} more unknown)" if len(missing) > 1 else "")
                         + "; nothing was sent. `epx devices` lists the ids.")
    return [found[device_id] for device_id in ids]


def confirm_response(connection: str, console: str, args: argparse.Namespace, devices: list[Device]) -> None:
    """Without --yes, the person at the terminal is asked on stderr (standard output carries the JSON): the
    console, the action, the devices, the message, the device count typed first for an action that cuts
    machines off, then y."""
    if args.yes:
        return
    spec = ACTIONS[args.action]
    warn(f"{console} {connection}: {spec.title.lower()} on {len(devices)} device{'s' if len(devices) != 1 else ''}: "
         f"{device_list_words([device.name or device.id for device in devices])}.")
    if args.message:
        warn(f"the device's user will see: {args.message}")
    if spec.needs_typed_count:
        if ask(f"This cuts the devices off the network. Type the number of devices ({len(devices)}) to go on: "
               ) != str(len(devices)):
            raise UsageError("the number typed did not match; nothing was sent.")
    if ask("Send it? [y/N] ").lower() not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was sent.")


def ask(prompt: str) -> str:
    """A line typed at the terminal, the prompt on stderr."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().strip()


async def actions(args: argparse.Namespace) -> int:
    """`epx actions`: the actions log, optionally one connection's."""
    entries = [entry for entry in actions_log(demo=args.demo).entries()
               if args.connection in (None, entry.connection)]
    if args.format == "json":
        write_json(sys.stdout, [entry.to_json() for entry in entries])
        return EXIT_OK
    rows = []
    for entry in entries:
        accepted = sum(bool(result.get("accepted")) for result in entry.results)
        rows.append([entry.time, entry.connection, entry.action, str(len(entry.results)), str(accepted),
                     str(len(entry.results) - accepted), entry.operator, entry.message])
    sys.stdout.write(render_table(ACTION_LOG_COLUMNS, rows, table_width(args), keep=4))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
