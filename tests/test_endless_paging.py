"""Paging that never ends (issue 13, item 3): a console whose pages say more follow for ever, or that sends the
same page again and again, is stopped with a sentence (exit 4), after a bounded number of requests; a console
that stops at its stated total is read to that total even if its last page says more follow."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
import tomli_w

from hostile import RewritingApp
from tui.cli import main
from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app
from tui.simulators.serve import ServerThread

USERNAME, PASSWORD, PASSWORD_ENV = "api-reader", "Paging-Test-Pass-1", "EPX_TEST_PAGING_PASSWORD"
FLEET = 600  # two pages of 500 computers


def first_page_always(query: str) -> str:
    """Whatever page is asked for, the console answers with the first one."""
    return urlencode([(key, "1" if key == "pageIndex" else value) for key, value in parse_qsl(query)])


def more_for_ever(page: dict) -> dict:
    return {**page, "lastPage": False, "totalPages": 10_000_000}


def more_without_a_count(page: dict) -> dict:
    return {**page, "lastPage": False, "totalPages": None, "totalElements": None}


def last_page_says_more(page: dict) -> dict:
    return {**page, "lastPage": False}


def run(tmp_path: Path, monkeypatch, capsys, app) -> tuple[int, str, str]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with ServerThread(app) as server:
        config = tmp_path / "config.toml"
        config.write_text(tomli_w.dumps({"connections": {"lab": {
            "vendor": "sepm", "url": server.url, "allow_http": True, "username": USERNAME,
            "password_env": PASSWORD_ENV}}}))
        code = main(["devices", "--config", str(config), "--connection", "lab", "--format", "json"])
    out, err = capsys.readouterr()
    return code, out, err


def sepm_app():
    return create_app(SepmSimulator(SepmFleet(FLEET, seed=5), username=USERNAME, password=PASSWORD))


@pytest.mark.parametrize("query,body,words", [
    (None, more_for_ever, r"says /sepm/api/v1/computers has 10,000,000 pages of 500 for 600 records"),
    (first_page_always, more_without_a_count, r"sent the same page of /sepm/api/v1/computers twice in a row"),
    (first_page_always, last_page_says_more, r"sent the same page of /sepm/api/v1/computers twice in a row"),
], ids=["a-count-the-total-cannot-hold", "the-same-page-without-a-count", "the-same-page-with-a-count"])
def test_a_sepm_listing_that_never_ends_is_stopped_in_words(tmp_path, monkeypatch, capsys, query, body, words):
    app = RewritingApp(sepm_app(), "/computers", query=query, body=body)
    code, out, err = run(tmp_path, monkeypatch, capsys, app)

    assert code == 4 and out == ""
    assert re.search(words, err), err
    assert "Traceback" not in err
    assert app.requests <= 6  # the first page, a few in flight, never thousands


def test_a_sepm_listing_stops_at_its_stated_total(tmp_path, monkeypatch, capsys):
    """Every page says more follow, but the first said 600 computers: the listing ends there, complete."""
    import json

    app = RewritingApp(sepm_app(), "/computers", body=last_page_says_more)
    code, out, err = run(tmp_path, monkeypatch, capsys, app)

    assert code == 0, err
    assert len({device["id"] for device in json.loads(out)}) == FLEET
    assert app.requests == 2
