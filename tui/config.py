"""config.toml: where it lives, what it may contain, and how it is read and written safely.

Non-UI core (no textual import): the CLI and the screens share it. A file that cannot be used is
reported with its path, line and key and is never overwritten; secrets never appear in messages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import re
import shlex
import stat
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
import tomli_w

from tui.models import VENDORS, Connection

APP_NAME = "endpoint-explorer"
CLIPBOARD_MODES = ("auto", "osc52", "off")

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_POSITION = re.compile(r" \(at (?:line (\d+), column \d+|end of document)\)$")

_STRING = ((str,), "must be a string")
_BOOL = ((bool,), "must be true or false")
_INT = ((int,), "must be a whole number")
_SECONDS = ((int, float), "must be a number of seconds")
_SETTINGS_KEYS = {"theme": _STRING, "clipboard": _STRING, "page_concurrency": _INT, "auto_refresh": _INT,
                  "request_timeout": _SECONDS, "keep_snapshots": _INT}
PAGE_CONCURRENCY_RANGE = range(1, 17)
MIN_AUTO_REFRESH = 5
_CONNECTION_KEYS = {
    "vendor": _STRING,
    "url": _STRING,
    "username": _STRING,
    "domain": _STRING,
    "password_env": _STRING,
    "password_command": _STRING,
    "password": _STRING,
    "verify": ((bool, str), "must be true, false or the path of a CA bundle"),
    "allow_http": _BOOL,
    "read_only": _BOOL,
    "device_space_id": _INT,
    "connected_cloud": _BOOL,
}
_REQUIRED_CONNECTION_KEYS = ("vendor", "url", "username")
_PASSWORD_SOURCES = ("password_env", "password_command", "password")


def default_config_path() -> Path:
    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.toml"


def resolve_config_path(
    explicit: str | os.PathLike[str] | None, environ: Mapping[str, str] = os.environ
) -> Path:
    """--config wins over $EPX_CONFIG, which wins over the platform default."""
    chosen = explicit or environ.get("EPX_CONFIG") or default_config_path()
    return Path(chosen).expanduser()


@dataclass
class Settings:
    theme: str = "textual-dark"
    clipboard: str = "auto"  # auto | osc52 | off
    page_concurrency: int = 4  # pages fetched at once where the API allows random access
    auto_refresh: int = 0  # seconds between automatic refreshes of an open device list; 0 = off
    request_timeout: float = 120.0  # seconds one request may take in all, its whole answer included
    keep_snapshots: int = 30  # days a snapshot of a load is kept (a connection's latest always); 0 = forever


@dataclass
class Config:
    path: Path | None  # None = in-memory (demo), never saved
    settings: Settings = field(default_factory=Settings)
    connections: dict[str, Connection] = field(default_factory=dict)  # insertion order = file order
    loaded: LoadedFile | None = field(default=None, compare=False, repr=False)
    """What the file held when this config was read or last saved (None: not read from a file, as if absent)."""


@dataclass(frozen=True)
class LoadedFile:
    """The file as this process last saw it: its SHA-256 (None when absent) and copies of what it held, so a save
    can tell whether another process changed it since, and what."""

    digest: str | None
    settings: Settings
    connections: dict[str, Connection]

    @classmethod
    def of(cls, data: bytes | None, config: Config) -> LoadedFile:
        return cls(
            digest=hashlib.sha256(data).hexdigest() if data is not None else None,
            settings=dataclasses.replace(config.settings),
            connections={name: dataclasses.replace(conn) for name, conn in config.connections.items()},
        )


LOCK_WAIT_S = 3.0
"""How long a save waits for another epx process to finish saving before it gives up with an error."""


class ConfigError(Exception):
    """A config file that cannot be used, located as precisely as we can so the user can fix it.

    `path` is None only for an in-memory config. The message never includes a secret value.
    """

    def __init__(
        self, path: Path | None, reason: str, *, line: int | None = None, key: str | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.reason = reason
        where = [str(path)] if path is not None else []
        if line is not None:
            where.append(f"line {line}")
        if key is not None:
            where.append(f"key {key}")
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)


class ConfigConflictError(ConfigError):
    """Another process changed, in the file, what this save would overwrite; nothing was written."""


class SecretError(Exception):
    """A secret that could not be obtained; says what to fix, never the secret or command output."""


class _Problem(Exception):
    """A validation failure at a key path; load_config turns it into a located ConfigError."""

    def __init__(self, key_path: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.key_path = key_path
        self.reason = reason


def load_config(path: Path) -> Config:
    """Read and fully validate config.toml; a missing file is an empty config, not an error."""
    try:
        data: bytes | None = path.read_bytes()
    except FileNotFoundError:
        data = None
    except OSError as err:
        raise ConfigError(path, f"cannot be read ({err.strerror})") from None
    config = _parse_config(path, data)
    config.loaded = LoadedFile.of(data, config)
    return config


def permission_warning(config: Config) -> str | None:
    """What to tell the user when the file holds a password that group or others may read (as ssh says about
    an open key file), or None. The file is still used: the CLI prints this on stderr, the app notifies."""
    path = config.path
    if path is None or not any(conn.password is not None for conn in config.connections.values()):
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (f"{path} holds a password but is not private (mode {mode:04o}: group or others may read it); "
            f"run: chmod 600 {shlex.quote(str(path))}")


def _parse_config(path: Path, data: bytes | None) -> Config:
    """The config the file's bytes hold (None: no file), or a located ConfigError."""
    if data is None:
        return Config(path=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(path, "is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        position = _TOML_POSITION.search(message)
        line = None
        if position:
            message = message[: position.start()]
            line = int(position[1]) if position[1] else max(len(text.splitlines()), 1)
        raise ConfigError(path, f"not valid TOML: {message}", line=line) from None
    try:
        settings, connections = _parse(document)
    except _Problem as problem:
        raise ConfigError(
            path,
            problem.reason,
            line=_find_line(text, problem.key_path),
            key=_dotted(problem.key_path),
        ) from None
    return Config(path=path, settings=settings, connections=connections)


def _parse(data: dict[str, Any]) -> tuple[Settings, dict[str, Connection]]:
    _check_keys(data, {"settings": None, "connections": None}, ())
    settings_table = _table(data, ("settings",))
    _check_keys(settings_table, _SETTINGS_KEYS, ("settings",))
    settings = Settings(**settings_table)
    if settings.clipboard not in CLIPBOARD_MODES:
        raise _Problem(("settings", "clipboard"), f"must be one of {', '.join(CLIPBOARD_MODES)}")
    if settings.page_concurrency not in PAGE_CONCURRENCY_RANGE:
        raise _Problem(("settings", "page_concurrency"), "must be between 1 and 16")
    if settings.auto_refresh and settings.auto_refresh < MIN_AUTO_REFRESH:
        raise _Problem(("settings", "auto_refresh"), f"must be 0 (off) or at least {MIN_AUTO_REFRESH} seconds")
    if not 0 < settings.request_timeout < math.inf:
        raise _Problem(("settings", "request_timeout"), "must be a positive number of seconds")
    if settings.keep_snapshots < 0:
        raise _Problem(("settings", "keep_snapshots"), "must be 0 (keep every snapshot) or a number of days")
    connections: dict[str, Connection] = {}
    connections_table = _table(data, ("connections",))
    for name in connections_table:
        where = ("connections", name)
        values = _table(connections_table, where)
        _check_keys(values, _CONNECTION_KEYS, where)
        for key in _REQUIRED_CONNECTION_KEYS:
            if key not in values:
                raise _Problem((*where, key), "required key is missing")
        conn = Connection(name=name, **values)
        errors = validate_connection(conn)
        if errors:
            field_name, reason = next(iter(errors.items()))
            raise _Problem(where if field_name == "name" else (*where, field_name), reason)
        connections[name] = conn
    return settings, connections


def _table(parent: dict[str, Any], key_path: tuple[str, ...]) -> dict[str, Any]:
    value = parent.get(key_path[-1], {})
    if not isinstance(value, dict):
        raise _Problem(key_path, "must be a table")
    return value


def _check_keys(
    table: dict[str, Any], known: Mapping[str, tuple[tuple[type, ...], str] | None], where: tuple[str, ...]
) -> None:
    """Reject unknown keys (a typo must not be silently ignored) and values of the wrong type."""
    for key, value in table.items():
        if key not in known:
            raise _Problem((*where, key), f"unknown key (expected one of: {', '.join(known)})")
        expected = known[key]
        if expected is not None and (
            not isinstance(value, expected[0]) or (isinstance(value, bool) and bool not in expected[0])
        ):
            raise _Problem((*where, key), expected[1])


def _dotted(key_path: tuple[str, ...]) -> str:
    """A key path as TOML spells it, quoting names that are not bare keys."""
    return ".".join(k if _BARE_KEY.fullmatch(k) else json.dumps(k) for k in key_path)


def _find_line(text: str, key_path: tuple[str, ...]) -> int | None:
    """The line of the key, else of the nearest enclosing table header or key (e.g. for a missing key).

    A line-by-line scan: headers set the current table, `key =` lines add their key to it. Each
    header or key is parsed with tomllib itself so quoted and dotted names resolve as TOML does.
    """
    best_line, best_length = None, 0
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            header = _fragment_path(stripped)
            if header is None:
                continue
            table = candidate = header
        elif "=" in stripped:
            key = _fragment_path(stripped.partition("=")[0] + "= 0")
            if not key:
                continue
            candidate = table + key
        else:
            continue
        if len(candidate) > best_length and key_path[: len(candidate)] == candidate:
            best_line, best_length = number, len(candidate)
            if best_length == len(key_path):
                break
    return best_line


def _fragment_path(fragment: str) -> tuple[str, ...] | None:
    """The key path a one-line TOML fragment defines, e.g. `[connections."a b"]` -> (connections, a b)."""
    try:
        node: Any = tomllib.loads(fragment)
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        ((key, node),) = node.items()
        path.append(key)
    return tuple(path)


def validate_connection(conn: Connection, *, others: Iterable[str] = ()) -> dict[str, str]:
    """Field name -> message for everything wrong with a profile; empty when it can be used."""
    errors: dict[str, str] = {}
    if not conn.name:
        errors["name"] = "name is required"
    elif not _NAME.fullmatch(conn.name):
        errors["name"] = "use only letters, digits, '.', '_' and '-'"
    elif conn.name in others:
        errors["name"] = f"a connection named {conn.name} already exists"
    if conn.vendor not in VENDORS:
        errors["vendor"] = f"vendor must be one of: {', '.join(VENDORS)}"
    url_error = _url_error(conn.url, conn.allow_http)
    if url_error:
        errors["url"] = url_error
    if not conn.username.strip():
        errors["username"] = "username is required"
    if conn.password_env is not None and not _ENV_NAME.fullmatch(conn.password_env):
        errors["password_env"] = "not a valid environment variable name"
    if conn.password_command is not None:
        try:
            if not shlex.split(conn.password_command):
                errors["password_command"] = "password command is empty"
        except ValueError as err:
            errors["password_command"] = f"password command cannot be parsed ({err})"
    sources = [name for name in _PASSWORD_SOURCES if getattr(conn, name) is not None]
    if len(sources) > 1:
        for name in sources:
            errors.setdefault(name, f"choose only one of {', '.join(sources)}")
    if isinstance(conn.verify, str):
        try:
            bundle_found = Path(conn.verify).expanduser().is_file()
        except RuntimeError:  # "~name/ca.pem" for a user this system does not know
            bundle_found = False
        if not bundle_found:
            errors["verify"] = f"CA bundle {conn.verify} does not exist"
    elif not isinstance(conn.verify, bool):
        errors["verify"] = "must be true, false or the path of a CA bundle"
    if conn.device_space_id < 1:
        errors["device_space_id"] = "device space ids start at 1 (the global space)"
    if conn.vendor != "epmm":
        if conn.device_space_id != 1:
            errors["device_space_id"] = "device_space_id only applies to EPMM connections"
        if conn.connected_cloud:
            errors["connected_cloud"] = "connected_cloud only applies to EPMM connections"
    return errors


def _url_error(url: str, allow_http: bool) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a valid url"
    if parts.scheme == "http" and not allow_http:
        return "use https, or tick 'allow plain http' for a lab"
    if parts.scheme not in ("https", "http"):
        return "url must start with https://"
    if not parts.hostname:
        return "url needs a host"
    if parts.username is not None or parts.password is not None:
        return "put the username in its own field, not in the url"
    try:
        port_ok = parts.port is None or 1 <= parts.port <= 65535
    except ValueError:  # not a number, or above 65535
        port_ok = False
    if not port_ok:
        return "port must be 1-65535"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "url must not have a path (just https://host or https://host:port)"
    return None


def dump_config(config: Config) -> str:
    """The TOML text; `password` is written only when the user chose to save it."""
    data: dict[str, Any] = {
        "settings": {
            "theme": config.settings.theme,
            "clipboard": config.settings.clipboard,
            "page_concurrency": config.settings.page_concurrency,
            "auto_refresh": config.settings.auto_refresh,
            "request_timeout": config.settings.request_timeout,
            "keep_snapshots": config.settings.keep_snapshots,
        }
    }
    if config.connections:
        data["connections"] = {name: _connection_table(c) for name, c in config.connections.items()}
    return tomli_w.dumps(data)


def _connection_table(conn: Connection) -> dict[str, Any]:
    table: dict[str, Any] = {"vendor": conn.vendor, "url": conn.url, "username": conn.username}
    if conn.domain:
        table["domain"] = conn.domain
    for key in _PASSWORD_SOURCES:
        if getattr(conn, key) is not None:
            table[key] = getattr(conn, key)
    if conn.verify is not True:
        table["verify"] = conn.verify
    if conn.allow_http:
        table["allow_http"] = True
    if conn.device_space_id != 1:
        table["device_space_id"] = conn.device_space_id
    if conn.connected_cloud:
        table["connected_cloud"] = True
    table["read_only"] = conn.read_only  # explicit, so a reader sees that writes are off
    return table


def save_config(config: Config, *, changed: Collection[str] | None = None) -> None:
    """Write atomically with mode 0600, keeping the previous file as config.toml.bak.

    `changed` names the connections this save adds, edits or deletes (a rename: both names); None means
    anything may have changed. Refuses to overwrite a file that does not load: it may hold work the user has
    not fixed yet.

    Two epx processes may save at once, so the save holds `config.toml.lock` (flock, released by the kernel
    when a process dies, so a crashed epx never blocks; `ConfigError` after `LOCK_WAIT_S`). Under the lock the
    file is read again: when another process changed it since `config` was loaded, its changes are merged
    into this save and into `config` if they touch neither the `changed` connections nor settings this
    process changed; otherwise `ConfigConflictError` and nothing is written. Merging keeps both edits, and
    refusing keeps the other edit, which the user has not seen: no change is lost silently either way.
    """
    path = config.path
    if path is None:
        raise ConfigError(None, "this configuration is in memory only and cannot be saved")
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _config_lock(path):
        try:
            previous: bytes | None = path.read_bytes()
        except FileNotFoundError:
            previous = None
        except OSError as err:
            raise ConfigError(path, f"cannot be read ({err.strerror})") from None
        try:
            on_disk = _parse_config(path, previous)
        except ConfigError as err:
            raise ConfigError(
                err.path, f"{err.reason}; fix the file first, it was not overwritten", line=err.line, key=err.key
            ) from None
        loaded = config.loaded or LoadedFile.of(None, Config(path=path))
        if loaded.digest == (hashlib.sha256(previous).hexdigest() if previous is not None else None):
            settings, connections = config.settings, config.connections
        else:
            settings, connections = _merge(config, loaded, on_disk, changed)
        saved = Config(path=path, settings=settings, connections=connections)
        data = dump_config(saved).encode("utf-8")
        temps: list[str] = []
        try:
            new = _private_temp(directory, data, temps)
            if previous is not None:
                os.replace(_private_temp(directory, previous, temps), path.with_name(path.name + ".bak"))
            os.replace(new, path)
        finally:
            for name in temps:  # after a successful replace the name is already gone
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        _fsync_directory(directory)
    config.settings, config.connections = settings, connections
    config.loaded = LoadedFile.of(data, saved)


def _merge(
    ours: Config, loaded: LoadedFile, on_disk: Config, changed: Collection[str] | None
) -> tuple[Settings, dict[str, Connection]]:
    """This process's changes (`changed` connections, and settings if they differ from `loaded`) on top of the
    file as another process left it; `ConfigConflictError` when both changed the same thing."""
    path = on_disk.path
    if changed is None:
        raise ConfigConflictError(path, "the config file changed since it was loaded: reload with ctrl+r on the "
                                        "connections screen; nothing was written")
    for name in changed:
        if on_disk.connections.get(name) != loaded.connections.get(name):
            raise ConfigConflictError(
                path, f"the config file changed since it was loaded, connection {name} included: reload with "
                      "ctrl+r on the connections screen, then make the change again; nothing was written")
    settings = on_disk.settings
    if ours.settings != loaded.settings:
        if on_disk.settings != loaded.settings:
            raise ConfigConflictError(path, "the config file changed since it was loaded, its settings included: "
                                            "reload with ctrl+r; nothing was written")
        settings = ours.settings
    merged = {name: conn if name in changed else on_disk.connections[name]
              for name, conn in ours.connections.items() if name in changed or name in on_disk.connections}
    for name, conn in on_disk.connections.items():
        if name not in changed:
            merged.setdefault(name, conn)
    return settings, merged


@contextlib.contextmanager
def _config_lock(path: Path) -> Iterator[None]:
    """Hold `config.toml.lock` (created 0600 next to the file) for one save; waits up to `LOCK_WAIT_S`."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConfigError(path, f"another epx process is saving it ({lock_path} stayed locked for "
                                            f"{LOCK_WAIT_S:g} s); nothing was written, try again") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _private_temp(directory: Path, data: bytes, temps: list[str]) -> str:
    """A durable temp file in `directory` (mkstemp makes it 0600), recorded in `temps` for cleanup."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".config-", suffix=".tmp")
    temps.append(name)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    return name


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable too; only POSIX can open a directory for this."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def resolve_secret(
    conn: Connection, environ: Mapping[str, str] = os.environ, *, timeout: float = 10.0
) -> str | None:
    """The profile's password from where it says to get it; None when it names no source."""
    if conn.password is not None:
        return conn.password
    if conn.password_env is not None:
        value = environ.get(conn.password_env)
        if not value:
            raise SecretError(f"environment variable {conn.password_env} is not set")
        return value
    if conn.password_command is not None:
        return _run_password_command(conn.password_command, timeout)
    return None


def _run_password_command(command: str, timeout: float) -> str:
    """Run without a shell and with no stdin (a prompt must fail, not hang or eat the UI's keys).

    Only the program name ever reaches a message: arguments and output may hold the secret.
    """
    try:
        argv = shlex.split(command)
    except ValueError:
        raise SecretError("password command cannot be parsed (check its quotes)") from None
    if not argv:
        raise SecretError("password command is empty")
    program = argv[0]
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise SecretError(f"password command `{program}` was not found") from None
    except subprocess.TimeoutExpired:
        raise SecretError(f"password command `{program}` did not finish within {timeout:g} seconds") from None
    except OSError as err:
        raise SecretError(f"password command `{program}` could not be run ({err.strerror})") from None
    if result.returncode != 0:
        raise SecretError(f"password command `{program}` exited with status {result.returncode}")
    try:
        lines = result.stdout.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise SecretError(f"password command `{program}` printed something that is not UTF-8 text") from None
    if not lines or not lines[0]:
        raise SecretError(f"password command `{program}` printed nothing")
    return lines[0]


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically: a 0600 temporary file in the same directory, flushed and fsynced,
    renamed over `path`, then the directory fsynced; the directory is created (0700) when missing.

    For files of the app other than config.toml (the state file); nothing is left behind on failure.
    """
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    temps: list[str] = []
    try:
        os.replace(_private_temp(directory, data, temps), path)
    finally:
        for name in temps:  # after a successful replace the name is already gone
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
    _fsync_directory(directory)
