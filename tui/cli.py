"""`epx`: the explorer UI, and the same data without a terminal UI for scripts and pipes.

This module is what `epx` runs first, so it stays small: a command line of the UI's options alone starts the UI,
which is all that is imported then; anything else (a sub-command, --help, a command line argparse has to
explain) goes to the sub-commands' module, tui/cli_commands.py, imported only then. Both parse with the same
options (`ui_options`), so a command line means the same whichever module reads it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from tui.request_log import LOG_ENV, start_request_log, stop_request_log

EXIT_OK, EXIT_USAGE = 0, 2
EXIT_OUTPUT = 6
"""Standard output or the --log file could not be written (a full disk)."""
EXIT_INTERRUPTED = 130


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


class NotForTheUI(Exception):
    """The command line is more than the UI's options: the full parser reads it (and explains a mistake)."""


class UIOptions(argparse.ArgumentParser):
    """The options of `epx` without a sub-command. Its own parse raises `NotForTheUI` where argparse would print
    a usage message and exit, so the message comes from the full parser instead; as a parent of that parser it
    only lends its options."""

    def error(self, message: str) -> NoReturn:
        raise NotForTheUI(message)


def ui_options() -> UIOptions:
    """The top-level options of `epx`: the common ones with their defaults, and --connection."""
    parser = UIOptions(add_help=False, parents=[common_options(defaults=True)])
    parser.add_argument("--connection", metavar="NAME", help="open this connection at start")
    return parser


def ui_arguments(argv: Sequence[str]) -> argparse.Namespace | None:
    """The UI's options when `argv` holds nothing else; None for a sub-command, --help or a mistake."""
    try:
        args, rest = ui_options().parse_known_args(argv)
    except NotForTheUI:
        return None
    return None if rest else args


def main(argv: Sequence[str] | None = None) -> int:
    args = ui_arguments(sys.argv[1:] if argv is None else argv)
    if args is None:
        from tui import cli_commands

        return cli_commands.main(argv)
    return with_request_log(args, start_ui)


def with_request_log(args: argparse.Namespace, run: Callable[[argparse.Namespace], int]) -> int:
    """`run(args)` with the request log of --log or $EPX_LOG open around it; a log that cannot be opened is a
    usage error, and one that could not be written to the end makes a successful run exit 6."""
    log_path = args.log or os.environ.get(LOG_ENV)
    try:
        log_handler = start_request_log(Path(log_path).expanduser()) if log_path else None
    except OSError as error:
        return fail(f"cannot open the log file {log_path} ({error.strerror or error}).", EXIT_USAGE)
    try:
        code = run(args)
    finally:
        log_failure = stop_request_log(log_handler) if log_handler is not None else None
    if log_failure is not None:
        warn(f"cannot write the log file {log_path} ({log_failure.strerror or log_failure}); it is incomplete.")
        return code or EXIT_OUTPUT
    return code


def warn(message: str) -> None:
    """One sentence on stderr, named after the program, as every epx message is."""
    print(f"epx: {message}", file=sys.stderr)


def fail(message: str, code: int) -> int:
    warn(message)
    return code


def start_ui(args: argparse.Namespace) -> int:
    """The UI, ended by ctrl+c before it has the terminal (after, ctrl+c is a key) with 130. Nothing else
    escapes `run_ui`: a config that does not read is shown in the UI, and a failure inside the app is its own."""
    try:
        return run_ui(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def run_ui(args: argparse.Namespace) -> int:
    """The app on the demo (whose consoles are built when first opened, tui/demo.py) or on the config."""
    from tui.app import ExplorerApp
    from tui.config import Config, ConfigError, load_config, resolve_config_path
    from tui.snapshots import SnapshotStore, default_snapshots_path
    from tui.state import StateStore, resolve_state_path

    if args.demo:
        from tui.demo import DemoTransports, demo_config
        from tui.demo_history import DEMO_HISTORY_MAX_SIZE

        config = demo_config(writes=args.demo_writes)
        state, snapshots = StateStore(None), SnapshotStore(None)
        demo = DemoTransports(config, state, snapshots, size=args.demo_size,
                              history=args.demo_size <= DEMO_HISTORY_MAX_SIZE)
        app = ExplorerApp(config, transports=demo, open_connection=args.connection, state=state,
                          snapshots=snapshots)
    else:
        demo = None
        path = resolve_config_path(args.config)
        try:
            config, error = load_config(path), None
        except ConfigError as problem:
            config, error = Config(path=path), problem
        app = ExplorerApp(config, config_error=error, open_connection=args.connection,
                          state=StateStore(resolve_state_path()), snapshots=SnapshotStore(default_snapshots_path()))
    try:
        app.run()
    finally:
        if demo is not None:
            demo.close()  # its consoles' child processes
    return app.return_code or EXIT_OK  # 129 when the terminal hung up


if __name__ == "__main__":
    raise SystemExit(main())
