"""Paging that never ends (issue 13, item 3): a console whose pages say more follow for ever, or that sends the
same page again and again, is stopped with a sentence (exit 4), after a bounded number of requests; a console
that stops at its stated total is read to that total even if its last page says more follow."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

import pytest

from helpers import LAB_PASSWORD, LAB_USERNAME, RewritingApp, epx_against
from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app

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


def sepm_app():
    return create_app(SepmSimulator(SepmFleet(FLEET, seed=5), username=LAB_USERNAME, password=LAB_PASSWORD))


@pytest.mark.parametrize("query,body,words", [
    (None, more_for_ever, r"says /sepm/api/v1/computers has 10,000,000 pages of 500 for 600 records"),
    (first_page_always, more_without_a_count, r"sent the same page of /sepm/api/v1/computers twice in a row"),
    (first_page_always, last_page_says_more, r"sent the same page of /sepm/api/v1/computers twice in a row"),
], ids=["a-count-the-total-cannot-hold", "the-same-page-without-a-count", "the-same-page-with-a-count"])
def test_a_sepm_listing_that_never_ends_is_stopped_in_words(tmp_path, monkeypatch, capsys, query, body, words):
    app = RewritingApp(sepm_app(), "/computers", query=query, body=body)
    code, out, err = epx_against(app, tmp_path, monkeypatch, capsys, "devices", "--format", "json")

    assert code == 4 and out == ""
    assert re.search(words, err), err
    assert "Traceback" not in err
    assert app.requests <= 6  # the first page, a few in flight, never thousands


def test_a_sepm_listing_stops_at_its_stated_total(tmp_path, monkeypatch, capsys):
    """Every page says more follow, but the first said 600 computers: the listing ends there, complete."""
    import json

    app = RewritingApp(sepm_app(), "/computers", body=last_page_says_more)
    code, out, err = epx_against(app, tmp_path, monkeypatch, capsys, "devices", "--format", "json")

    assert code == 0, err
    assert len({device["id"] for device in json.loads(out)}) == FLEET
    assert app.requests == 2


# --- EPMM (offset paging) and Elements (anchors) -----------------------------------------------------------


def without(key: str):
    """The query or form as the console would need it to serve its first page again."""
    return lambda text: urlencode([(k, v) for k, v in parse_qsl(text, keep_blank_values=True) if k != key])


def offset_zero(query: str) -> str:
    return urlencode([(k, "0" if k == "offset" else v) for k, v in parse_qsl(query, keep_blank_values=True)])


class FreshAnchors:
    """Every page says another page follows, under a new anchor each time."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, page: dict) -> dict:
        self.count += 1
        return {**page, "nextAnchor": f"bW9yZS{self.count}"}


def run_vendor(tmp_path, monkeypatch, capsys, vendor: str, suffix: str, command: str, **rewrites):
    from tui.simulators import build_simulator

    simulated = build_simulator(vendor, size=150, seed=3)
    app = RewritingApp(simulated.app, suffix, **rewrites)
    window = ["--since", "30d"] if command == "events" else []
    code, out, err = epx_against(app, tmp_path, monkeypatch, capsys, command, "--format", "json", *window,
                                 vendor=vendor, username=simulated.username, password=simulated.password)
    return code, out, err, app


def test_an_epmm_search_that_repeats_its_first_page_for_ever_is_stopped(tmp_path, monkeypatch, capsys):
    code, out, err, app = run_vendor(
        tmp_path, monkeypatch, capsys, "epmm", "/api/v2/devices", "devices", query=offset_zero,
        body=lambda page: {**page, "totalCount": 1_000_000_000, "hasMore": True})
    assert (code, out) == (4, "")
    assert "sent the same page of /api/v2/devices twice in a row" in err, err
    assert app.requests <= 6


def test_elements_devices_under_fresh_anchors_for_ever_are_stopped(tmp_path, monkeypatch, capsys):
    code, out, err, app = run_vendor(
        tmp_path, monkeypatch, capsys, "elements", "/devices/v1/devices", "devices", query=without("anchor"),
        body=FreshAnchors())
    assert (code, out) == (4, "")
    assert "sent the same page of /devices/v1/devices twice in a row" in err, err
    assert app.requests <= 4


def test_elements_events_under_fresh_anchors_for_ever_are_stopped(tmp_path, monkeypatch, capsys):
    code, out, err, app = run_vendor(
        tmp_path, monkeypatch, capsys, "elements", "/security-events/v1/security-events", "events",
        form=without("anchor"), body=FreshAnchors())
    assert (code, out) == (4, "")
    assert "twice in a row" in err or "empty pages" in err, err
    assert app.requests <= 25
