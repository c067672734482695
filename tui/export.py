"""Device records as CSV or JSON: one implementation for `epx devices` and the UI's export to a file.

Non-UI core (no textual import). The records are `Device.to_json()` (README: "Command line", device
records); CSV has the same columns, lists joined by spaces, true/false, null as an empty cell. A console
names things as it likes, so a CSV cell a spreadsheet would run as a formula gets a leading apostrophe
(OWASP's CSV-injection advice); JSON keeps every value exact.

Files are written atomically: a temporary file in the target's directory (mode 0600, it lists a
fleet), flushed and fsynced, then moved into place; an existing file is replaced only when asked.
Every failure is an ExportError whose message names the path and the reason in one sentence.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from tui.models import Device

DEVICE_FIELDS = ["vendor", "connection", "id", "name", "os", "ip_addresses", "group", "online", "health",
                 "missing_critical_patches", "last_seen", "state"]
EXPORT_FORMATS = {".csv": "csv", ".json": "json"}
"""File extension (compared without case) -> format."""

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may take for the start of a formula (OWASP, "CSV Injection"): such a CSV cell gets a leading
apostrophe. A negative number ("-5") gets one too, as OWASP advises: the spreadsheet shows it as text."""
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


class ExportError(Exception):
    """A file that could not be written; `str()` is one sentence naming the path and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"Cannot export to {self.path}: {reason}.")


class ExportExistsError(ExportError):
    """The file exists and `overwrite` was not given: ask the user, then call again with overwrite=True."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path, "the file already exists")


# --- records as text ------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A JSON value as one CSV (or table) cell: lists joined by spaces, true/false, null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def age_text(moment: datetime | None, now: datetime) -> str:
    """How long ago, in the tersest form a responder reads at a glance: 45s, 12m, 3h, 9d. Here, not in the
    device table, so that the UI and `epx devices` (which may not import textual) say it alike."""
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def csv_cell(value: Any) -> str:
    """`cell(value)`, with an apostrophe before a start a spreadsheet would run as a formula."""
    text = cell(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_line(cells: Iterable[str]) -> str:
    """One CSV line ending in "\\n". A cell with a comma, a quote or a line break is quoted, a lone CR too: the
    csv module leaves that bare when lines end in "\\n", and a reader would start a new row there."""
    return ",".join(
        '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text for text in cells
    ) + "\n"


def write_csv(stream: TextIO, records: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> int:
    """`records` as CSV with a header row of `fields` ("\\n" line ends); returns the number of records."""
    stream.write(csv_line(fields))
    count = 0
    for record in records:
        stream.write(csv_line(csv_cell(record[field]) for field in fields))
        count += 1
    return count


def write_json(stream: TextIO, records: Iterable[Mapping[str, Any]]) -> int:
    """`records` as one indented JSON array (UTF-8 kept as is) and a final newline; returns the count."""
    listed = list(records)
    json.dump(listed, stream, indent=2, ensure_ascii=False)
    stream.write("\n")
    return len(listed)


def write_devices(stream: TextIO, devices: Iterable[Device], fmt: str) -> int:
    """Devices as "csv" or "json" records on `stream`; returns how many were written."""
    records = (device.to_json() for device in devices)
    if fmt == "csv":
        return write_csv(stream, records, DEVICE_FIELDS)
    if fmt == "json":
        return write_json(stream, records)
    raise ValueError(f"Unknown export format {fmt!r}; expected csv or json.")


# --- files ---------------------------------------------------------------------------------------------------


def export_format(path: str | os.PathLike[str]) -> str:
    """"csv" or "json" from the file's extension (any case); ExportError for anything else."""
    suffix = Path(path).suffix
    fmt = EXPORT_FORMATS.get(suffix.lower())
    if fmt is None:
        found = f"the extension {suffix!r} is not" if suffix else "a name without an extension is not"
        raise ExportError(path, f"{found} one we write; use .csv or .json")
    return fmt


def export_path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why `path` cannot be exported to, in a few words for a prompt, or None when it can be tried.

    An existing file is not a problem here (ask before overwriting: `Path.exists()`); permissions
    and a full disk only show when writing.
    """
    path = Path(path)
    if not path.name or path.is_dir():
        return "that is a directory; add a file name ending in .csv or .json"
    if path.suffix.lower() not in EXPORT_FORMATS:
        return "unknown extension: use .csv or .json"
    parent = path.parent
    if not parent.exists():
        return f"directory {parent} does not exist"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    return None


def default_export_name(connection: str, now: datetime) -> str:
    """`epx-<connection>-<YYYYmmdd-HHMMSS>.csv`, `now` formatted as given (pass local time for users)."""
    safe = _UNSAFE_IN_NAME.sub("_", connection).strip("._") or "devices"
    return f"epx-{safe}-{now:%Y%m%d-%H%M%S}.csv"


def default_export_path(directory: str | os.PathLike[str], connection: str, now: datetime) -> Path:
    return Path(directory) / default_export_name(connection, now)


def export_devices(
    devices: Iterable[Device], path: str | os.PathLike[str], *, overwrite: bool = False
) -> int:
    """Write `devices` to `path` as CSV or JSON (by its extension) atomically; returns the count written.

    An existing file is kept (ExportExistsError) unless `overwrite`; even then, it is replaced only once
    the new content is complete on disk. On any failure no temporary file is left behind.
    """
    return export_file(path, lambda stream, fmt: write_devices(stream, devices, fmt), overwrite=overwrite)


def export_file(path: str | os.PathLike[str], write: Callable[[TextIO, str], int], *, overwrite: bool = False) -> int:
    """What `write(stream, "csv" | "json")` writes, to `path` as `export_devices` writes devices (any records)."""
    path = Path(path)
    fmt = export_format(path)
    problem = export_path_problem(path)
    if problem is not None:
        raise ExportError(path, problem)
    if not overwrite and path.exists():
        raise ExportExistsError(path)
    directory = path.parent
    temp: str | None = None
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            count = write(stream, fmt)
            stream.flush()
            os.fsync(stream.fileno())
        if overwrite:
            os.replace(temp, path)
        else:
            _move_without_replacing(temp, path)
        temp = None
    except FileExistsError:
        raise ExportExistsError(path) from None
    except OSError as error:
        raise ExportError(path, _reason(error, directory)) from None
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
    _fsync_directory(directory)
    return count


def _move_without_replacing(temp: str, path: Path) -> None:
    """Give `temp` the name `path` unless a file took that name meanwhile (FileExistsError).

    A hard link fails atomically when the name exists; where links are not supported, a check just
    before the rename is the best that is left.
    """
    try:
        os.link(temp, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
    except OSError:
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(temp, path)
        return
    with contextlib.suppress(OSError):  # the export is in place; a stray link is only cosmetic
        os.unlink(temp)


def _reason(error: OSError, directory: Path) -> str:
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, FileNotFoundError):
        return f"the directory {directory} does not exist"
    if isinstance(error, IsADirectoryError):
        return "that is a directory"
    if error.errno == errno.ENOSPC:
        return "the disk is full"
    if error.errno == errno.EROFS:
        return "the file system is read-only"
    return (error.strerror or str(error)).rstrip(".").lower() or "it could not be written"


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable too; only POSIX can open a directory for this (best effort)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
