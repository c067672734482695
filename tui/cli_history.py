"""`epx snapshots`, `epx changes`, `epx coverage` and `epx devices --offline`: the fleet as it was, what changed
since, and which machines one console sees that another does not, from the snapshot store.

A complete `epx devices` load (no filter) is kept as a snapshot; the demo keeps nothing. A missing or too old
snapshot, or a store that cannot be read, ends the command with exit 4, like a console that cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tui.changes import CHANGE_FIELDS, ChangeKind
from tui.cli import EXIT_OK, warn
from tui.cli_commands import (
    EXIT_CODES,
    HelpFormatter,
    UsageError,
    add_format,
    cli_client,
    load,
    named_connection,
    record_rows,
    render_table,
    table_width,
    write_records,
)
from tui.config import ConfigError, Settings, load_config, resolve_config_path
from tui.coverage import COVERAGE_FIELDS, CoverageFilter, match_machines
from tui.demo_history import DEMO_HISTORY_MAX_SIZE
from tui.export import age_text, cell, write_csv, write_json
from tui.inventory import DeviceFilter, split_group_path
from tui.models import Device, iso_utc, parse_duration, parse_time_bound
from tui.snapshots import SnapshotError, SnapshotInfo, SnapshotStore, default_snapshots_path
from tui.vendors.base import VendorClient, VendorError


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """`snapshots list|prune`, `changes` and `coverage`."""
    snapshots = commands.add_parser("snapshots", help="list or prune the kept snapshots of complete loads",
                                    epilog=EXIT_CODES, formatter_class=HelpFormatter,
                                    description="The snapshots kept of complete loads (one per connection and load).")
    actions = snapshots.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="the snapshots, newest first")
    listing.add_argument("--connection", metavar="NAME", help="only this connection's")
    add_format(listing)
    prune = actions.add_parser("prune", parents=[common], help="forget old snapshots (a connection's latest stays)")
    prune.add_argument("--older-than", type=int, metavar="DAYS",
                       help="forget those taken more than DAYS ago (default: the keep_snapshots setting)")

    changes = commands.add_parser(
        "changes", parents=[common], help="what changed in a fleet between two snapshots", epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
        description="Devices that became critical, now miss critical patches, appeared, disappeared, went offline "
                    "or moved group, from a snapshot to the latest one. --since takes a duration back from now "
                    "(1h, 24h, 7d) or an RFC 3339 time; without it, the snapshot before the latest.")
    changes.add_argument("--connection", required=True, metavar="NAME", help="the connection whose snapshots to compare")
    changes.add_argument("--since", metavar="WHEN", help="compare with the newest snapshot at or before WHEN")
    changes.add_argument("--change", action="append", choices=[kind.key for kind in ChangeKind], metavar="KIND",
                         help="only this kind of change (repeatable): " + ", ".join(kind.key for kind in ChangeKind))
    add_device_filters(changes)
    add_format(changes)

    coverage = commands.add_parser(
        "coverage", parents=[common], help="which consoles see each machine", epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
        description="Each machine (devices matched across connections by host name, case and domain suffix "
                    "ignored) with the consoles that see it. Loads every connection (or those named) live, or "
                    "reads their latest snapshots with --offline.")
    coverage.add_argument("--connection", action="append", metavar="NAME",
                          help="a connection to compare (repeatable; default: every connection)")
    coverage.add_argument("--only-one", action="store_true", help="only machines one console alone sees")
    coverage.add_argument("--missing-from", metavar="NAME", help="only machines this connection does not see")
    coverage.add_argument("--offline", action="store_true", help="read the latest snapshots instead of the consoles")
    add_format(coverage)


def add_device_filters(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--critical", action="store_true", help="only devices whose health is critical now")
    sub.add_argument("--missing-patch", action="store_true", help="only devices missing critical patches now")
    sub.add_argument("--group", metavar="PATH", help="only this group and its sub-groups (\\ or / between levels)")


def device_filter(args: argparse.Namespace) -> DeviceFilter:
    return DeviceFilter(critical=args.critical, missing_patch=args.missing_patch,
                        group=split_group_path(args.group or ""))


def settings(args: argparse.Namespace) -> Settings:
    """The config's settings (defaults for the demo, or when there is no readable config file)."""
    if args.demo:
        return Settings()
    try:
        return load_config(resolve_config_path(args.config)).settings
    except ConfigError:
        return Settings()


def store(args: argparse.Namespace) -> SnapshotStore:
    """The user's store; the demo's is in memory, with each demo console's past and present (the demo writes
    nothing)."""
    if not args.demo:
        return SnapshotStore(default_snapshots_path())
    from tui.demo import build_demo

    history = args.demo_size <= DEMO_HISTORY_MAX_SIZE
    return build_demo(size=args.demo_size, history=history, present=history).snapshots


def latest(snapshots: SnapshotStore, connection: str) -> SnapshotInfo:
    info = snapshots.latest(connection)
    if info is None:
        raise SnapshotError(f"No snapshot of {connection!r} in {snapshots.where}; a complete load (the UI, or "
                            f"`epx devices --connection {connection}`) keeps one.")
    return info


async def offline_devices(args: argparse.Namespace) -> list[Device]:
    """`epx devices --offline`: the latest snapshot's devices, filtered; exit 4 when it is older than --max-age."""
    if not args.offline:
        raise UsageError("--max-age applies to --offline (the age of the snapshot read).")
    max_age = max_age_of(args.max_age) if args.max_age else None
    snapshots = store(args)
    info = await asyncio.to_thread(latest, snapshots, args.connection)
    now = datetime.now(UTC)
    if max_age is not None and now - info.taken_at > max_age:
        raise SnapshotError(f"The latest snapshot of {args.connection!r} is from {iso_utc(info.taken_at)}, "
                            f"{age_text(info.taken_at, now)} ago: older than --max-age {args.max_age.strip()}.")
    warn(f"note: snapshot of {args.connection} from {iso_utc(info.taken_at)} ({age_text(info.taken_at, now)} ago).")
    wanted = device_filter(args)
    snapshot = await asyncio.to_thread(snapshots.read, info)
    return [device for device in snapshot.devices if wanted.matches(device)]


def max_age_of(text: str) -> timedelta:
    try:
        span = parse_duration(text)
    except ValueError as error:
        raise UsageError(f"--max-age: {error}") from None
    if span is None:
        raise UsageError(f"--max-age: {text!r} is not a duration such as 15m, 1h, 24h or 7d.")
    return span


async def keep_snapshot(args: argparse.Namespace, client: VendorClient, devices: Sequence[Device]) -> None:
    """Keep a complete `epx devices` load as a snapshot; a store that fails is a note, never a failure."""
    if args.demo:
        return
    try:
        server, groups = await client.probe(), await client.groups()
    except VendorError as error:
        warn(f"note: not kept as a snapshot: the groups could not be read ({error}).")
        return
    snapshots = store(args)
    name = client.connection.name
    try:
        await asyncio.to_thread(snapshots.write, name, client.vendor, devices, groups, server, (), datetime.now(UTC))
        keep_days = settings(args).keep_snapshots
        if keep_days:
            await asyncio.to_thread(snapshots.prune, keep_days, datetime.now(UTC))
    except SnapshotError as error:
        warn(f"note: not kept as a snapshot: {error}")
    finally:
        snapshots.close()


SNAPSHOT_FIELDS = ["id", "connection", "vendor", "taken_at", "devices", "size"]
SNAPSHOT_COLUMNS = ["connection", "taken_at", "age", "devices", "size", "vendor", "id"]


async def snapshots_command(args: argparse.Namespace) -> int:
    snapshots = store(args)
    now = datetime.now(UTC)
    if args.action == "prune":
        days = args.older_than if args.older_than is not None else settings(args).keep_snapshots
        if days <= 0:
            raise UsageError("keep_snapshots is 0 (keep every snapshot); name --older-than DAYS to prune.")
        forgotten = await asyncio.to_thread(snapshots.prune, days, now)
        print(f"Forgot {forgotten:,} snapshot{'s' if forgotten != 1 else ''} older than {days} days.")
        return EXIT_OK
    infos = await asyncio.to_thread(snapshots.listing, args.connection)
    records = [info.to_json() for info in infos]

    def table() -> str:
        shown = [{**record, "age": age_text(info.taken_at, now), "size": f"{info.size / 2**20:.1f} MB"}
                 for record, info in zip(records, infos, strict=True)]
        return render_table(SNAPSHOT_COLUMNS, record_rows(shown, SNAPSHOT_COLUMNS), table_width(args), keep=4)

    write_records(args, records, SNAPSHOT_FIELDS, table)
    return EXIT_OK


CHANGE_COLUMNS = ["change", "name", "before", "after", "group", "health", "connection", "id"]


async def changes_command(args: argparse.Namespace) -> int:
    """`epx changes`: the latest snapshot against the one before it, or the newest at or before --since."""
    snapshots = store(args)
    now = datetime.now(UTC)
    newest = await asyncio.to_thread(latest, snapshots, args.connection)
    if args.since:
        try:
            since = parse_time_bound(args.since, now)
        except ValueError as error:
            raise UsageError(f"--since: {error}") from None
        older = await asyncio.to_thread(snapshots.latest, args.connection, at_or_before=since)
        if older is None:
            oldest = (await asyncio.to_thread(snapshots.listing, args.connection))[-1]
            if oldest.id != newest.id:
                warn(f"note: no snapshot of {args.connection} is as old as {iso_utc(since)}; compared with the "
                     f"oldest, from {iso_utc(oldest.taken_at)}.")
            older = oldest
    else:
        older = await asyncio.to_thread(snapshots.previous, newest)
    if older is None or older.id == newest.id:
        raise SnapshotError(f"Only one snapshot of {args.connection!r} ({iso_utc(newest.taken_at)}) is kept: "
                            "nothing to compare it with yet.")
    warn(f"note: changes of {args.connection} from {iso_utc(older.taken_at)} to {iso_utc(newest.taken_at)}.")
    wanted, kinds = device_filter(args), set(args.change or ())
    found = [change for change in await asyncio.to_thread(snapshots.changes, older, newest)
             if wanted.matches(change.device) and (not kinds or change.kind.key in kinds)]
    records = [change.to_json() for change in found]
    write_records(args, records, CHANGE_FIELDS, lambda: render_table(
        CHANGE_COLUMNS, [[change.kind.value, *(cell(record[column]) for column in CHANGE_COLUMNS[1:])]
                         for change, record in zip(found, records, strict=True)], table_width(args), keep=4))
    return EXIT_OK


COVERAGE_COLUMNS = ["machine", "seen_by", "consoles", "missing", "shared_name"]


async def coverage_command(args: argparse.Namespace) -> int:
    """`epx coverage`: every machine with the consoles that see it, from live loads or the latest snapshots."""
    if args.offline:
        snapshots = store(args)
        names = args.connection or sorted({info.connection for info in await asyncio.to_thread(snapshots.listing)})
        devices = await offline_fleets(snapshots, names)
    else:
        config, transports = load(args)
        names = args.connection or list(config.connections)
        connections = [named_connection(config, name) for name in names]
        clients = [cli_client(config, transports, connection, warn_unverified=False) for connection in connections]
        try:
            fleets = await asyncio.gather(*(live_devices(args, client) for client in clients))
        finally:
            for client in clients:
                await client.aclose()
        devices = [device for fleet in fleets for device in fleet]
    if args.missing_from and args.missing_from not in names:
        raise UsageError(f"--missing-from {args.missing_from!r} is not one of the connections compared "
                         f"({', '.join(names)}).")
    if len(names) < 2:
        warn("note: coverage compares two connections or more; only one is known.")
    machines = CoverageFilter(only_one=args.only_one, missing_from=args.missing_from or "").apply(
        match_machines(devices))
    records = [machine.to_json(names) for machine in machines]
    if args.format == "json":
        write_json(sys.stdout, records)
        return EXIT_OK
    for record in records:
        record["consoles"], record["missing"] = " ".join(record["consoles"]), " ".join(record["missing"])
        record["devices"] = " ".join(f"{name}:{id_}" for name, ids in record["devices"].items() for id_ in ids)
    if args.format == "csv":
        write_csv(sys.stdout, records, COVERAGE_FIELDS)
    else:
        sys.stdout.write(render_table(COVERAGE_COLUMNS, record_rows(records, COVERAGE_COLUMNS), table_width(args),
                                      keep=3))
    return EXIT_OK


async def offline_fleets(snapshots: SnapshotStore, names: Sequence[str]) -> list[Device]:
    devices: list[Device] = []
    for name in names:
        info = await asyncio.to_thread(latest, snapshots, name)
        devices.extend((await asyncio.to_thread(snapshots.read, info)).devices)
    return devices


async def live_devices(args: argparse.Namespace, client: VendorClient) -> list[Device]:
    """One console's complete listing, kept as a snapshot."""
    chosen: dict[str, Device] = {}
    async for page in client.devices():
        chosen.update((device.id, device) for device in page.devices)
    devices = list(chosen.values())
    await keep_snapshot(args, client, devices)
    return devices


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "snapshots": snapshots_command, "changes": changes_command, "coverage": coverage_command}
