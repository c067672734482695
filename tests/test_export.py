"""Exporting devices to a file: the documented CSV and JSON records, the file name, and a write that is
atomic, never clobbers a file unless asked, and fails with one sentence naming the path."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tui.export import (
    DEVICE_FIELDS,
    ExportError,
    ExportExistsError,
    default_export_name,
    default_export_path,
    export_devices,
    export_format,
    export_path_problem,
    write_csv,
    write_devices,
)
from tui.models import Device, Health

NOW = datetime(2026, 11, 25, 9, 5, 7, tzinfo=UTC)
DEVICES = [
    Device(vendor="sepm", connection="prod-sepm", id="1A2B", name="WIN-7F3K2", os="Windows 11 Enterprise",
           ip_addresses=("10.0.0.5", "fe80::1"), group="My Company\\Servers", online=True,
           health=Health.CRITICAL, missing_critical_patches=True,
           last_seen=datetime(2026, 11, 25, 11, 58, 2, tzinfo=UTC)),
    Device(vendor="sepm", connection="prod-sepm", id="3C4D", name='Zoë\'s "laptop", 2nd', os="macOS 15",
           group="My Company\\Laptops", online=False, health=Health.OK, missing_critical_patches=False,
           state="isolated"),
    Device(vendor="sepm", connection="prod-sepm", id="5E6F", name="never-seen"),
]
CSV_TEXT = (
    "vendor,connection,id,name,os,ip_addresses,group,online,health,missing_critical_patches,last_seen,state\n"
    "sepm,prod-sepm,1A2B,WIN-7F3K2,Windows 11 Enterprise,10.0.0.5 fe80::1,My Company\\Servers,true,critical,"
    "true,2026-11-25T11:58:02Z,\n"
    'sepm,prod-sepm,3C4D,"Zoë\'s ""laptop"", 2nd",macOS 15,,My Company\\Laptops,false,ok,false,,isolated\n'
    "sepm,prod-sepm,5E6F,never-seen,,,,,unknown,,,\n"
)


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# --- the records ---------------------------------------------------------------------------------------------


def test_csv_has_the_documented_header_and_cells(tmp_path: Path) -> None:
    target = tmp_path / "devices.csv"

    assert export_devices(DEVICES, target) == 3

    assert target.read_bytes() == CSV_TEXT.encode("utf-8")
    header, *rows = csv.reader(io.StringIO(target.read_text(encoding="utf-8")))
    assert header == DEVICE_FIELDS
    assert rows[1][3] == 'Zoë\'s "laptop", 2nd'


def test_json_is_the_device_records(tmp_path: Path) -> None:
    target = tmp_path / "devices.json"

    assert export_devices(DEVICES, target) == 3

    text = target.read_text(encoding="utf-8")
    assert "Zoë" in text and text.endswith("]\n")  # UTF-8 as is, one final newline
    records = json.loads(text)
    assert records == [device.to_json() for device in DEVICES]
    assert list(records[0]) == DEVICE_FIELDS
    assert records[0]["ip_addresses"] == ["10.0.0.5", "fe80::1"]
    assert records[2] == {
        "vendor": "sepm", "connection": "prod-sepm", "id": "5E6F", "name": "never-seen", "os": "",
        "ip_addresses": [], "group": "", "online": None, "health": "unknown",
        "missing_critical_patches": None, "last_seen": None, "state": None,
    }


def test_the_extension_decides_the_format_in_any_case(tmp_path: Path) -> None:
    assert export_devices(DEVICES[:1], tmp_path / "A.CSV") == 1
    assert (tmp_path / "A.CSV").read_text(encoding="utf-8").startswith("vendor,connection,")
    assert export_devices(DEVICES[:1], tmp_path / "a.Json") == 1
    assert json.loads((tmp_path / "a.Json").read_text(encoding="utf-8"))[0]["id"] == "1A2B"


def test_no_devices_is_a_header_or_an_empty_array(tmp_path: Path) -> None:
    assert export_devices([], tmp_path / "none.csv") == 0
    assert (tmp_path / "none.csv").read_text() == ",".join(DEVICE_FIELDS) + "\n"
    assert export_devices(iter(()), tmp_path / "none.json") == 0
    assert (tmp_path / "none.json").read_text() == "[]\n"


def test_write_devices_to_a_stream_is_what_the_file_holds() -> None:
    out = io.StringIO()
    assert write_devices(out, DEVICES, "csv") == 3
    assert out.getvalue() == CSV_TEXT
    with pytest.raises(ValueError):
        write_devices(io.StringIO(), DEVICES, "xml")


HOSTILE = Device(vendor="sepm", connection="prod-sepm", id="-5", name='=HYPERLINK("http://x.test","open")',
                 os="+cmd|' /C calc'!A0", ip_addresses=("@SUM(1+1)", "10.0.0.9"), group="-Root")


def test_csv_neutralises_cells_a_spreadsheet_would_run_as_formulas(tmp_path: Path) -> None:
    """OWASP's CSV-injection rule: a cell starting with = + - @ tab or CR gains a leading apostrophe, "-5" too."""
    target = tmp_path / "hostile.csv"
    export_devices([HOSTILE], target)
    with target.open(encoding="utf-8", newline="") as stream:
        header, row = list(csv.reader(stream))
    line = dict(zip(header, row))
    assert line["id"] == "'-5"
    assert line["name"] == '\'=HYPERLINK("http://x.test","open")'
    assert line["os"] == "'+cmd|' /C calc'!A0"
    assert line["ip_addresses"] == "'@SUM(1+1) 10.0.0.9"
    assert line["group"] == "'-Root"
    assert line["vendor"] == "sepm"  # harmless cells stay as they are

    out = io.StringIO()
    write_csv(out, [{"id": "g1", "name": "@evil", "path": "a\\b"}], ["id", "name", "path"])
    assert out.getvalue() == "id,name,path\ng1,'@evil,a\\b\n"


def test_csv_neutralises_a_leading_tab_or_cr_and_keeps_a_cr_inside_its_row() -> None:
    """Models already make control characters visible; write_csv takes any record, so it guards these too."""
    out = io.StringIO()
    write_csv(out, [{"a": "\tTabbed", "b": "\rRoot", "c": "x\ry"}], ["a", "b", "c"])
    assert out.getvalue() == 'a,b,c\n\'\tTabbed,"\'\rRoot","x\ry"\n'
    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [["a", "b", "c"], ["'\tTabbed", "'\rRoot", "x\ry"]]


def test_json_keeps_hostile_values_exact(tmp_path: Path) -> None:
    target = tmp_path / "hostile.json"
    export_devices([HOSTILE], target)
    assert json.loads(target.read_text(encoding="utf-8")) == [HOSTILE.to_json()]
    assert json.loads(target.read_text(encoding="utf-8"))[0]["id"] == "-5"


def test_the_file_is_private(tmp_path: Path) -> None:
    target = tmp_path / "devices.csv"
    export_devices(DEVICES, target)
    assert target.stat().st_mode & 0o777 == 0o600


# --- never clobber, unless asked -------------------------------------------------------------------


def test_an_existing_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "devices.csv"
    target.write_text("precious\n")

    with pytest.raises(ExportExistsError) as caught:
        export_devices(DEVICES, target)

    assert isinstance(caught.value, ExportError)
    assert str(caught.value) == f"Cannot export to {target}: the file already exists."
    assert target.read_text() == "precious\n"
    assert leftovers(tmp_path) == ["devices.csv"]


def test_overwrite_replaces_it(tmp_path: Path) -> None:
    target = tmp_path / "devices.json"
    target.write_text("old\n")

    assert export_devices(DEVICES, target, overwrite=True) == 3

    assert len(json.loads(target.read_text(encoding="utf-8"))) == 3
    assert leftovers(tmp_path) == ["devices.json"]


def test_a_dangling_symlink_counts_as_existing(tmp_path: Path) -> None:
    target = tmp_path / "devices.csv"
    target.symlink_to(tmp_path / "elsewhere.csv")

    with pytest.raises(ExportExistsError):
        export_devices(DEVICES, target)

    assert leftovers(tmp_path) == ["devices.csv"]
    assert not (tmp_path / "elsewhere.csv").exists()


# --- errors: one sentence naming the path, and nothing left behind ------------------------------------


@pytest.mark.parametrize("name", ["devices.txt", "devices", "devices.csv.gz"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(ExportError) as caught:
        export_devices(DEVICES, tmp_path / name)

    message = str(caught.value)
    assert message.startswith(f"Cannot export to {tmp_path / name}: ") and message.endswith(".")
    assert "use .csv or .json" in message
    assert leftovers(tmp_path) == []


def test_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "devices.csv"

    with pytest.raises(ExportError) as caught:
        export_devices(DEVICES, target)

    assert str(caught.value) == f"Cannot export to {target}: directory {tmp_path / 'nowhere'} does not exist."
    assert leftovers(tmp_path) == []


def test_a_directory_as_the_target(tmp_path: Path) -> None:
    (tmp_path / "out.csv").mkdir()

    with pytest.raises(ExportError, match="that is a directory"):
        export_devices(DEVICES, tmp_path / "out.csv", overwrite=True)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user")
def test_permission_denied(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(ExportError) as caught:
            export_devices(DEVICES, locked / "devices.csv")
        assert str(caught.value) == f"Cannot export to {locked / 'devices.csv'}: permission denied."
    finally:
        locked.chmod(0o700)
    assert leftovers(locked) == []


def test_permission_denied_is_a_sentence_even_as_root(tmp_path: Path, monkeypatch) -> None:
    """mkstemp refusing, simulated, so the mapping is checked wherever the tests run."""
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr("tui.export.tempfile.mkstemp", refuse)
    with pytest.raises(ExportError) as caught:
        export_devices(DEVICES, tmp_path / "devices.csv")
    assert str(caught.value) == f"Cannot export to {tmp_path / 'devices.csv'}: permission denied."


def test_a_failure_while_writing_leaves_no_temp_file_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "devices.csv"
    target.write_text("previous export\n")

    def devices():
        yield DEVICES[0]
        raise RuntimeError("the connection dropped")

    with pytest.raises(RuntimeError):
        export_devices(devices(), target, overwrite=True)

    assert target.read_text() == "previous export\n"
    assert leftovers(tmp_path) == ["devices.csv"]


def test_a_full_disk_is_reported_and_cleaned_up(tmp_path: Path, monkeypatch) -> None:
    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tui.export.os.fsync", full)
    target = tmp_path / "devices.json"

    with pytest.raises(ExportError) as caught:
        export_devices(DEVICES, target)

    assert str(caught.value) == f"Cannot export to {target}: the disk is full."
    assert leftovers(tmp_path) == []


def test_a_file_that_appears_during_the_write_is_not_clobbered(tmp_path: Path, monkeypatch) -> None:
    """Checked before writing, and again, atomically, when the export takes its name."""
    target = tmp_path / "devices.csv"
    real_fsync = os.fsync

    def someone_else_writes(fd):
        real_fsync(fd)
        target.write_text("theirs\n")

    monkeypatch.setattr("tui.export.os.fsync", someone_else_writes)
    with pytest.raises(ExportExistsError):
        export_devices(DEVICES, target)

    assert target.read_text() == "theirs\n"
    assert leftovers(tmp_path) == ["devices.csv"]


# --- paths -----------------------------------------------------------------------------------------------------


def test_default_name_from_a_given_time() -> None:
    assert default_export_name("prod-sepm", NOW) == "epx-prod-sepm-20261125-090507.csv"
    assert default_export_path(Path("/data"), "demo-epmm", NOW) == Path("/data/epx-demo-epmm-20261125-090507.csv")


def test_default_name_keeps_a_strange_connection_name_in_one_file_name() -> None:
    assert default_export_name("lab/../sepm 2", NOW) == "epx-lab_.._sepm_2-20261125-090507.csv"
    assert default_export_name("..", NOW) == "epx-devices-20261125-090507.csv"


def test_export_format() -> None:
    assert export_format("a.csv") == "csv"
    assert export_format(Path("a.JSON")) == "json"
    with pytest.raises(ExportError, match=r"Cannot export to a\.xlsx: the extension '\.xlsx' is not one we write"):
        export_format("a.xlsx")


def test_path_problems_for_the_prompt(tmp_path: Path) -> None:
    (tmp_path / "exists.csv").write_text("x")
    (tmp_path / "file").write_text("x")

    assert export_path_problem(tmp_path / "new.csv") is None
    assert export_path_problem(tmp_path / "exists.csv") is None  # asking before overwriting is the caller's
    assert export_path_problem(tmp_path / "new.txt") == "unknown extension: use .csv or .json"
    assert export_path_problem(tmp_path / "gone" / "a.csv") == f"directory {tmp_path / 'gone'} does not exist"
    assert export_path_problem(tmp_path / "file" / "a.csv") == f"{tmp_path / 'file'} is not a directory"
    assert export_path_problem(tmp_path) == "that is a directory; add a file name ending in .csv or .json"
