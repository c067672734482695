"""`epx`: the explorer UI, and the same data without a terminal UI for scripts and pipes.

Exit codes: 0 ok, 2 usage or configuration error, 3 authentication error, 4 network or server error,
5 not available for the connection's vendor (e.g. fingerprint lists on EPMM or Elements), 6 standard output
or the --log file could not be written, 141 the reader of standard output went away (quietly).
Errors go to stderr as one sentence that never contains a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import getpass
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from tui.config import (
    Config,
    ConfigError,
    SecretError,
    load_config,
    permission_warning,
    resolve_config_path,
    resolve_secret,
)
from tui.request_log import LOG_ENV, start_request_log, stop_request_log
from tui.export import DEVICE_FIELDS, cell, write_csv, write_devices, write_json
from tui.inventory import DeviceFilter, split_group_path
from tui.models import Connection, Device, DeviceQuery
from tui.simulators import MAX_FLEET, SIMULATED_VENDORS, build_simulator
from tui.simulators.faults import FAULTS, FaultError, parse_fault
from tui.vendors import open_client
from tui.vendors.base import AuthenticationError, ForbiddenError, VendorError
from tui.hashes import HashError, parse_hash
from tui.models import VENDORS, FingerprintList
from tui.state import KnownList, StateError, StateStore, resolve_state_path
from tui.vendors import CLIENTS
from tui.vendors.base import NotFoundError
from datetime import UTC, datetime
from tui.models import Event, EventWindow, Severity, iso_utc, parse_time_bound
from tui.vendors.base import LabelMembership, NotAvailableError
from tui.models import DevicePage, Group, left_out

EXIT_OK, EXIT_USAGE, EXIT_AUTH, EXIT_NETWORK = 0, 2, 3, 4
EXIT_UNAVAILABLE = 5
EXIT_OUTPUT = 6
"""Standard output or the --log file could not be written (a full disk)."""
EXIT_PIPE = 128 + signal.SIGPIPE
"""The reader of standard output went away (`epx devices | head -1`): quiet, as if killed by SIGPIPE."""
GROUP_FIELDS = ["id", "name", "path", "parent_id", "device_count"]


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit 2)."""


def common_options(*, defaults: bool) -> argparse.ArgumentParser:
    """--config, --demo, --demo-size. A sub-command gets them without defaults (`defaults=False`): argparse
    copies a sub-parser's defaults over the main parser's values, which would turn `epx --demo devices`
    back into a non-demo run."""
    common = argparse.ArgumentParser(add_help=False, argument_default=None if defaults else argparse.SUPPRESS)
    common.add_argument("--config", metavar="PATH", help="config file (default: $EPX_CONFIG, then the user config dir)")
    common.add_argument("--demo", action="store_true", help="use the built-in simulated consoles; nothing is written")
    common.add_argument("--demo-size", type=int, metavar="N", help="devices per demo console (default: 500)")
    common.add_argument("--demo-writes", action="store_true",
                        help="let the demo connections make changes (to the simulated consoles only)")
    common.add_argument("--log", metavar="FILE", help="append a JSON line per console request to FILE, never a "
                                                     "secret (default: $EPX_LOG)")
    if defaults:
        common.set_defaults(demo_size=500, demo_writes=False)
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options(defaults=False)
    parser = argparse.ArgumentParser(prog="epx", parents=[common_options(defaults=True)],
                                     description="Explore endpoint-security consoles from the terminal.")
    parser.add_argument("--connection", metavar="NAME", help="open this connection at start")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name, what in (("devices", "list devices"), ("groups", "list groups")):
        sub = commands.add_parser(name, parents=[common], help=what, description=f"{what.capitalize()} as json, csv or a table.")
        sub.add_argument("--connection", required=True, metavar="NAME")
        sub.add_argument("--format", choices=("json", "csv", "table"), default="table")
        if name == "devices":
            sub.add_argument("--critical", action="store_true", help="only devices whose health is critical")
            sub.add_argument("--missing-patch", action="store_true", help="only devices missing critical patches")
            sub.add_argument("--group", metavar="PATH", help="only this group and its sub-groups (\\ or / between levels)")

    add_fingerprints_parser(commands, common)
    add_events_parser(commands, common)

    simulate = commands.add_parser(
        "simulate", help="serve a simulated console on loopback",
        description="Serve a simulated console on loopback. Faults: "
        + "; ".join(f"{name}: {what}" for name, what in FAULTS.items()) + ".",
    )
    simulate.add_argument("vendor", choices=SIMULATED_VENDORS)
    simulate.add_argument("--port", type=int, default=8446)
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--size", type=int, default=500, help="devices in the fleet (up to 200,000)")
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--tls", action="store_true", help="serve https with a fresh test CA (its PEM path is printed)")
    simulate.add_argument("--fault", action="append", default=[], metavar="KIND[=VALUE][@PATH]",
                          help="inject a fault into every matching request, e.g. latency=50 or 429=7 (repeatable)")
    simulate.add_argument("--cache-pages", action="store_true",
                          help="answer a repeated GET from memory (benchmarks only: it skips the credential check)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log_path = args.log or os.environ.get(LOG_ENV)
    try:
        log_handler = start_request_log(Path(log_path).expanduser()) if log_path else None
    except OSError as error:
        return fail(f"cannot open the log file {log_path} ({error.strerror or error}).", EXIT_USAGE)
    try:
        code = run_command(args)
    finally:
        log_failure = stop_request_log(log_handler) if log_handler is not None else None
    if log_failure is not None:
        warn(f"cannot write the log file {log_path} ({log_failure.strerror or log_failure}); it is incomplete.")
        return code or EXIT_OUTPUT
    return code


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
        return run_ui(args)
    except (ConfigError, SecretError, UsageError) as error:
        return fail(str(error), EXIT_USAGE)
    except UnavailableError as error:
        return fail(str(error), EXIT_UNAVAILABLE)
    except (AuthenticationError, ForbiddenError) as error:
        return fail(str(error), EXIT_AUTH)
    except VendorError as error:
        return fail(str(error), EXIT_NETWORK)
    except OutputError as error:
        return output_failed(error.cause)
    except KeyboardInterrupt:
        return 130


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


def print_records(command: Callable[[argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    """Run `command` with a guarded standard output, flushed before the command counts as done."""
    stdout = sys.stdout
    sys.stdout = GuardedOutput(stdout)  # type: ignore[assignment]
    try:
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


def warn(message: str) -> None:
    """One sentence on stderr, named after the program, as every epx message is."""
    print(f"epx: {message}", file=sys.stderr)


def fail(message: str, code: int) -> int:
    warn(message)
    return code


def load(args: argparse.Namespace) -> tuple[Config, dict[str, Any]]:
    """The config to use and, in demo mode, the in-process transports of the simulated consoles."""
    if args.demo:
        from tui.demo import build_demo

        demo = build_demo(size=args.demo_size, writes=args.demo_writes)
        return demo.config, demo.transports
    config = load_config(resolve_config_path(args.config))
    if warning := permission_warning(config):
        warn(f"warning: {warning}")
    return config, {}


def run_ui(args: argparse.Namespace) -> int:
    from tui.app import ExplorerApp

    if args.demo:
        from tui.demo import build_demo

        demo = build_demo(size=args.demo_size, writes=args.demo_writes)
        config, transports, state, error = demo.config, demo.transports, demo.state, None
    else:
        path = resolve_config_path(args.config)
        try:
            config, error = load_config(path), None
        except ConfigError as problem:
            config, error = Config(path=path), problem
        transports, state = {}, StateStore(resolve_state_path())
    app = ExplorerApp(config, config_error=error, transports=transports, open_connection=args.connection,
                      state=state)
    app.run()
    return app.return_code or EXIT_OK  # 129 when the terminal hung up


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


async def export(args: argparse.Namespace) -> int:
    config, transports = load(args)
    connection = config.connections.get(args.connection)
    if connection is None:
        known = ", ".join(config.connections) or "none"
        raise UsageError(f"No connection named {args.connection!r} (known: {known}).")
    if connection.verify is False and connection.url.startswith("https://"):
        warn(f"warning: the TLS certificate of {connection.name} is not verified (verify = false).")
    client = open_client(
        connection,
        cli_secret(connection),
        transport=transports.get(connection.name),
        page_concurrency=config.settings.page_concurrency,
        request_timeout=config.settings.request_timeout,
    )
    client.wait_listener = lambda reason: reason and warn(reason)
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
                labels = client.label_ids(group.id) if isinstance(client, LabelMembership) else []
                if labels:  # a label's members are known only by searching with it (EPMM)
                    pages = client.label_devices(labels)
            chosen: dict[str, Device] = {}  # a device in several labels comes once per label
            async for page in pages:
                chosen.update((device.id, device) for device in page.devices
                              if device.id not in chosen and wanted.matches(device))
                skipped, repaired = skipped + page.skipped, repaired + page.repaired
            devices = list(chosen.values())
    finally:
        await client.aclose()
    say_left_out(skipped, repaired, "device")
    if args.command == "groups":
        records = [group.to_json() for group in groups]
        if args.format == "csv":
            write_csv(sys.stdout, records, GROUP_FIELDS)
        elif args.format == "json":
            write_json(sys.stdout, records)
        else:
            sys.stdout.write(render_table(records, GROUP_FIELDS))
    elif args.format == "table":
        sys.stdout.write(render_table([device.to_json() for device in devices], DEVICE_FIELDS))
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
    hint = f" Did you mean {', '.join(repr(texts[key]) for key in close)}?" if close else ""
    named = "\\".join(path)
    raise UsageError(f"No group named {named!r} on this connection.{hint} `epx groups` lists them.")


def say_left_out(skipped: int, repaired: int, noun: str) -> None:
    """Say once on stderr what the console sent that is not in the output as it came."""
    for words in left_out(skipped, repaired, noun):
        warn(f"note: {words}.")


def render_table(records: list[dict[str, Any]], fields: list[str]) -> str:
    """Aligned columns for a human: the header, then one line per record (cells as in CSV)."""
    rows = [[cell(record[field]) for field in fields] for record in records]
    widths = [max([len(field)] + [len(row[i]) for row in rows]) for i, field in enumerate(fields)]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in [fields, *rows]]
    return "\n".join(lines) + "\n"


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


class UnavailableError(Exception):
    """What was asked does not exist for the connection's vendor (exit 5)."""


def add_fingerprints_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = commands.add_parser(
        "fingerprints", parents=[common], help="SEPM fingerprint lists (file hashes)",
        description="SEPM fingerprint lists as json, csv or a table: the lists named with --name, else those "
                    "this connection opened before (SEPM cannot list them all). --hash keeps the lists that "
                    "hold that MD5 or SHA-256.",
    )
    sub.add_argument("--connection", required=True, metavar="NAME")
    sub.add_argument("--name", action="append", default=[], metavar="LIST",
                     help="open this list by name (repeatable); it is remembered for next time")
    sub.add_argument("--hash", metavar="HASH", help="only the lists holding this MD5 or SHA-256 (any case)")
    sub.add_argument("--format", choices=("json", "csv", "table"), default="table")


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
    connection = config.connections.get(args.connection)
    if connection is None:
        known = ", ".join(config.connections) or "none"
        raise UsageError(f"No connection named {args.connection!r} (known: {known}).")
    if not CLIENTS[connection.vendor].capabilities.fingerprints:
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
    if connection.verify is False and connection.url.startswith("https://"):
        warn(f"warning: the TLS certificate of {connection.name} is not verified (verify = false).")
    client = open_client(connection, cli_secret(connection), transport=transports.get(connection.name),
                         page_concurrency=config.settings.page_concurrency,
                         request_timeout=config.settings.request_timeout)
    client.wait_listener = lambda reason: reason and warn(reason)
    lists: list[FingerprintList] = []
    gone: list[KnownList] = []
    group_paths: dict[str, str] = {}
    try:
        for name in names:
            lists.append(await client.fingerprint_list(name))
        for known in remembered:
            try:
                lists.append(await client.fingerprint_list_by_id(known.id))
            except NotFoundError:
                gone.append(known)
        if any(listing.group_ids for listing in lists):
            group_paths = {group.id: group.path_text for group in await client.groups()}
    finally:
        await client.aclose()
    try:
        for known in gone:
            warn(f"fingerprint list {known.name!r} ({known.id}) no longer exists on {connection.name}; forgotten.")
            state.forget_list(connection.name, known.id)
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
    if args.format == "csv":
        write_csv(sys.stdout, records, FINGERPRINT_FIELDS)
    elif args.format == "json":
        write_json(sys.stdout, records)
    else:
        sys.stdout.write(render_table(records, [field for field in FINGERPRINT_FIELDS if field != "hashes"]))
    return EXIT_OK


# --- epx events (issue 6) ------------------------------------------------------------------------------------

EVENT_FIELDS = ["vendor", "connection", "id", "time", "severity", "engine", "category", "device_id", "device_name",
                "organization", "title", "message", "acknowledged", "source"]
"""An event record (README "Events"); CSV has the same columns."""
EVENT_TABLE_FIELDS = ["time", "severity", "engine", "device_name", "title"]


def add_events_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = commands.add_parser(
        "events", parents=[common], help="events in a time window",
        description="Events of a connection in a time window, newest first, as json, csv or a table. --since and "
                    "--until take a duration back from now (15m, 1h, 24h, 7d) or an RFC 3339 time with Z or an "
                    "offset (2025-06-01T10:00:00+02:00).",
    )
    sub.add_argument("--connection", required=True, metavar="NAME")
    sub.add_argument("--since", default="24h", metavar="WHEN", help="start of the window (default: 24h)")
    sub.add_argument("--until", metavar="WHEN", help="end of the window (default: now)")
    sub.add_argument("--severity", metavar="S[,S]", help="only these severities: critical, warning, info, unknown")
    sub.add_argument("--engine", metavar="NAME", help="only this engine or category (e.g. epp, fileScanning, "
                                                      "notification, command)")
    sub.add_argument("--device", metavar="ID_OR_NAME", help="only events of this device")
    sub.add_argument("--organization", metavar="ID", help="Elements: only this organization (company)")
    sub.add_argument("--format", choices=("json", "csv", "table"), default="table")


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
    connection = config.connections.get(args.connection)
    if connection is None:
        known = ", ".join(config.connections) or "none"
        raise UsageError(f"No connection named {args.connection!r} (known: {known}).")
    window = event_window(args, datetime.now(UTC))
    if window.organization_id and connection.vendor != "elements":
        raise UsageError("--organization applies to Elements connections only.")
    if not CLIENTS[connection.vendor].capabilities.events:
        raise UnavailableError(f"Events are not available for {VENDORS[connection.vendor]} connections.")
    if connection.verify is False and connection.url.startswith("https://"):
        warn(f"warning: the TLS certificate of {connection.name} is not verified (verify = false).")
    client = open_client(connection, cli_secret(connection), transport=transports.get(connection.name),
                         page_concurrency=config.settings.page_concurrency,
                         request_timeout=config.settings.request_timeout)
    client.wait_listener = lambda reason: reason and warn(reason)
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
    if args.format == "csv":
        write_csv(sys.stdout, records, EVENT_FIELDS)
    elif args.format == "json":
        write_json(sys.stdout, records)
    else:
        sys.stdout.write(render_table(records, EVENT_TABLE_FIELDS))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
