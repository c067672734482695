"""The state file: the fingerprint lists each connection has opened or created, kept across runs; written
atomically with mode 0600; a file that cannot be read is reported and never overwritten."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tui.models import FingerprintList
from tui.state import (
    MAX_LISTS_PER_CONNECTION,
    KnownList,
    StateError,
    StateStore,
    default_state_path,
    resolve_state_path,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def listing(list_id: str, name: str, hash_type: str | None = "MD5") -> FingerprintList:
    return FingerprintList(list_id, name, hash_type, "WEBSERVICE", "", (), ())


def test_the_file_lives_in_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("EPX_STATE", raising=False)

    assert default_state_path() == tmp_path / "data" / "endpoint-explorer" / "state.json"
    assert resolve_state_path() == default_state_path()
    assert resolve_state_path(environ={"EPX_STATE": "~/s.json"}) == Path("~/s.json").expanduser()
    assert resolve_state_path(tmp_path / "x.json", environ={"EPX_STATE": "/elsewhere"}) == tmp_path / "x.json"


def test_remembered_lists_come_back_newest_first_per_connection(tmp_path):
    path = tmp_path / "deep" / "state.json"
    store = StateStore(path)
    assert store.known_lists("prod") == []

    store.remember_list("prod", listing("A1", "Blacklist"), now=NOW)
    store.remember_list("prod", listing("B2", "IR-42", "SHA256"), now=NOW + timedelta(minutes=1))
    store.remember_list("lab", listing("C3", "Lab list"), now=NOW)
    store.remember_list("prod", listing("A1", "Blacklist (renamed)"), now=NOW + timedelta(minutes=2))

    again = StateStore(path)  # a later run reads what the earlier one wrote
    assert again.known_lists("prod") == [
        KnownList("A1", "Blacklist (renamed)", "MD5", "2026-11-25T12:02:00Z"),
        KnownList("B2", "IR-42", "SHA256", "2026-11-25T12:01:00Z"),
    ]
    assert [item.id for item in again.known_lists("lab")] == ["C3"]
    assert again.known_lists("unknown") == []
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["connections"]["prod"]["fingerprint_lists"][1] == {
        "id": "B2", "name": "IR-42", "hash_type": "SHA256", "last_used": "2026-11-25T12:01:00Z"}


def test_forget(tmp_path):
    store = StateStore(tmp_path / "state.json")
    store.remember_list("prod", listing("A1", "one"), now=NOW)
    store.remember_list("prod", listing("B2", "two"), now=NOW)
    written = (tmp_path / "state.json").stat().st_mtime_ns

    store.forget_list("prod", "A1")
    store.forget_list("prod", "nope")
    store.forget_list("nobody", "A1")

    assert [item.id for item in store.known_lists("prod")] == ["B2"]
    assert (tmp_path / "state.json").stat().st_mtime_ns >= written


def test_the_file_is_private_and_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    store = StateStore(path)
    store.remember_list("prod", listing("A1", "one"), now=NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StateError) as caught:
        store.remember_list("prod", listing("B2", "two"), now=NOW)
    assert "cannot be written" in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(item.name for item in tmp_path.iterdir()) == ["state.json"]  # no temporary file left


@pytest.mark.parametrize(("content", "words"), [
    (b'{"version": 1, "connections": {', "is not valid JSON"),
    (b"\xff\xfe", "is not UTF-8 text"),
    (b"[]", "must hold a JSON object"),
    (b'{"connections": {}}', "no version number"),
    (b'{"version": 9, "connections": {}}', "newer Endpoint Explorer"),
    (b'{"version": 1, "connections": []}', "`connections` must be an object"),
    (b'{"version": 1, "connections": {"prod": {"fingerprint_lists": {}}}}', "must be a list"),
    (b'{"version": 1, "connections": {"prod": {"fingerprint_lists": [{"name": "x"}]}}}', "needs an `id`"),
    (b'{"version": 1, "connections": {"prod": {"fingerprint_lists": [{"id": "A", "name": 3}]}}}', "`name`"),
])
def test_a_corrupt_file_is_reported_and_never_overwritten(tmp_path, content, words):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    store = StateStore(path)

    with pytest.raises(StateError) as caught:
        store.known_lists("prod")
    assert words in str(caught.value) and str(path) in str(caught.value)
    with pytest.raises(StateError):
        store.remember_list("prod", listing("A1", "one"), now=NOW)
    with pytest.raises(StateError):
        store.forget_list("prod", "A1")
    assert path.read_bytes() == content
    assert sorted(item.name for item in tmp_path.iterdir()) == ["state.json"]


def test_a_json_error_names_its_line(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{\n  "version": 1,\n  "connections": {,}\n}\n')
    with pytest.raises(StateError) as caught:
        StateStore(path).known_lists("prod")
    assert caught.value.line == 3 and "line 3" in str(caught.value)


def test_unknown_keys_are_kept(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "future": {"x": 1}, "connections": {"prod": {"later": True}}}))

    StateStore(path).remember_list("prod", listing("A1", "one"), now=NOW)

    data = json.loads(path.read_text())
    assert data["future"] == {"x": 1} and data["connections"]["prod"]["later"] is True


def test_the_list_per_connection_is_bounded(tmp_path):
    store = StateStore(tmp_path / "state.json")
    for number in range(MAX_LISTS_PER_CONNECTION + 5):
        store.remember_list("prod", listing(f"ID{number}", f"list {number}"), now=NOW + timedelta(seconds=number))
    known = store.known_lists("prod")
    assert len(known) == MAX_LISTS_PER_CONNECTION
    assert known[0].id == f"ID{MAX_LISTS_PER_CONNECTION + 4}"


def test_in_memory_state_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = StateStore(None)
    store.remember_list("demo-sepm", listing("A1", "one"), now=NOW)
    assert [item.name for item in store.known_lists("demo-sepm")] == ["one"]
    assert list(tmp_path.iterdir()) == []
