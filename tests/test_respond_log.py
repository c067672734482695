"""The actions log (issue 18): one JSON line per action sent, 0600, read back for `epx actions`."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime

from tui.respond import ACTIONS, ActionResult, ActionsLog, actions_log, device_list_words


def test_each_action_is_appended_private_and_read_back(tmp_path) -> None:
    log = ActionsLog(tmp_path / "data" / "actions.jsonl")
    assert log.entries() == []
    results = [ActionResult("id-1", "PC-1", True, reference="17"),
               ActionResult("id-2", "PC-\x1b[31m2", False, "not a Windows computer", final=True, succeeded=False)]
    log.append(connection="prod", vendor="elements", action="isolate", message="Call IT", results=results,
               when=datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    log.append(connection="prod", vendor="elements", action="release", message="", results=results[:1])
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700
    entries = log.entries()
    assert [entry.action for entry in entries] == ["isolate", "release"]
    first = entries[0]
    assert first.time == "2026-11-25T12:00:00Z" and first.connection == "prod" and first.message == "Call IT"
    assert first.results[1]["reason"] == "not a Windows computer"
    assert "\x1b" not in first.results[1]["device_name"]  # cleaned when the result was made
    assert first.operator  # the local user name


def test_a_torn_line_is_skipped(tmp_path) -> None:
    path = tmp_path / "actions.jsonl"
    path.write_text('{"time": "t", "connection": "c", "vendor": "sepm", "action": "scan", "results": []}\n{"ti')
    assert [entry.action for entry in ActionsLog(path).entries()] == ["scan"]
    json.loads(path.read_text().splitlines()[0])


def test_the_environment_names_the_file_and_the_demo_writes_none() -> None:
    assert str(actions_log(demo=False, environ={"EPX_ACTIONS_LOG": "/x/a.jsonl"}).path) == "/x/a.jsonl"
    assert str(actions_log(demo=True, environ={"EPX_ACTIONS_LOG": "/x/a.jsonl"}).path) == "/x/a.jsonl"
    assert actions_log(demo=False, environ={}).path.name == "actions.jsonl"
    kept = actions_log(demo=True, environ={})
    assert kept.path is None
    kept.append(connection="demo-sepm", vendor="sepm", action="scan", message="", results=[])
    assert [entry.action for entry in kept.entries()] == ["scan"]


def test_confirmation_words() -> None:
    assert device_list_words(["a", "b", "c", "d", "e"]) == "a, b, c and 2 more"
    assert device_list_words(["a"]) == "a"
    assert ACTIONS["isolate"].needs_typed_count and not ACTIONS["scan"].needs_typed_count
