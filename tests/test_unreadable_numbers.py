"""A number no 64-bit integer or double holds, in one record, spoils only that field (issue 13, item 5): the
rest of the page, and every other device, stays. Through the real SEPM simulator, its answer rewritten the way a
broken or hostile console would send it, and through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import LAB_PASSWORD, LAB_USERNAME, RewritingApp, epx_against
from tui.models import RawPage, json_loads
from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app

WIDE = 123456789012345678901234567890  # wider than 64 bits


def test_json_loads_keeps_the_page_and_drops_only_what_no_double_holds() -> None:
    body = b'{"content": [{"id": "a", "memory": 1e400, "n": -1e400}, {"id": "b", "big": %d}]}' % WIDE
    page = json_loads(body)
    assert page["content"][0] == {"id": "a", "memory": None, "n": None}
    assert page["content"][1]["id"] == "b" and page["content"][1]["big"] == float(WIDE)
    assert RawPage.compress(body, "content").record(0)["memory"] is None  # the detail view reads it too
    with pytest.raises(ValueError):
        json_loads(b'{"content": [')


def poison(page: dict) -> str:
    """The first computer's time and memory become numbers no double or 64-bit integer holds."""
    first = page["content"][0]
    first["lastUpdateTime"], first["memory"] = "__HUGE__", "__WIDE__"
    return json.dumps(page).replace('"__HUGE__"', "1e400").replace('"__WIDE__"', str(WIDE))


def test_one_unreadable_number_does_not_lose_the_page(tmp_path: Path, monkeypatch, capsys) -> None:
    simulator = SepmSimulator(SepmFleet(40, seed=8), username=LAB_USERNAME, password=LAB_PASSWORD)
    app = RewritingApp(create_app(simulator), "/computers", body=poison)
    code, out, err = epx_against(app, tmp_path, monkeypatch, capsys, "devices", "--format", "json")
    assert code == 0, err
    devices = json.loads(out)
    assert len(devices) == 40
    assert sum(device["last_seen"] is None for device in devices) >= 1  # only the spoiled field is unreadable
