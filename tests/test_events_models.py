"""The vendor-neutral event records: the window's rules (half-open, zones, filters), the user's ways of
writing a window bound, the JSON record, and the HTML-to-text conversion every console's text goes through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tui.models import (
    Capabilities,
    Event,
    EventWindow,
    Severity,
    parse_duration,
    parse_time_bound,
    parse_timestamp,
)
from tui.vendors import CLIENTS
from tui.vendors.html_text import html_to_text, one_line, plain_text

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def event(moment: datetime, **fields) -> Event:
    values = {"vendor": "elements", "connection": "c", "id": "e1", "time": moment, "severity": Severity.WARNING,
              "engine": "fileScanning", "title": "t"}
    values.update(fields)
    return Event(**values)


# --- the window --------------------------------------------------------------------------------------------


def test_a_window_needs_a_bound_and_zones():
    with pytest.raises(ValueError, match="needs a start, an end or both"):
        EventWindow()
    with pytest.raises(ValueError, match="no time zone"):
        EventWindow(start=datetime(2025, 6, 1, 10, 0))
    with pytest.raises(ValueError, match="starts .* after it ends"):
        EventWindow(start=NOW, end=NOW - timedelta(seconds=1))


def test_bounds_with_offsets_are_kept_in_utc():
    plus_two = timezone(timedelta(hours=2))
    window = EventWindow(start=datetime(2025, 6, 1, 10, 0, tzinfo=plus_two),
                         end=datetime(2025, 6, 1, 3, 0, tzinfo=timezone(timedelta(hours=-5))))
    assert window.start == datetime(2025, 6, 1, 8, 0, tzinfo=UTC) and window.start.tzinfo is UTC
    assert window.end == datetime(2025, 6, 1, 8, 0, tzinfo=UTC) and window.end.tzinfo is UTC


def test_the_window_is_half_open_and_an_equal_start_and_end_is_empty():
    window = EventWindow.last(timedelta(hours=1), NOW)
    assert window.contains(NOW - timedelta(hours=1))
    assert not window.contains(NOW)
    assert not window.contains(NOW - timedelta(hours=1, microseconds=1))
    empty = EventWindow(start=NOW, end=NOW)
    assert not empty.contains(NOW)
    assert EventWindow(end=NOW).contains(datetime(1999, 1, 1, tzinfo=UTC))
    assert EventWindow(start=NOW).contains(datetime(2999, 1, 1, tzinfo=UTC))


def test_filters_severity_engine_or_category_and_device():
    inside = NOW - timedelta(minutes=5)
    window = EventWindow.last(timedelta(hours=1), NOW, severities=frozenset({"critical"}), engine="EPP")
    assert window.severities == {Severity.CRITICAL}
    assert window.matches(event(inside, severity=Severity.CRITICAL, category="epp"))
    assert window.matches(event(inside, severity=Severity.CRITICAL, engine="epp"))
    assert not window.matches(event(inside, severity=Severity.WARNING, category="epp"))
    assert not window.matches(event(inside, severity=Severity.CRITICAL, category="edr"))
    assert not window.matches(event(NOW, severity=Severity.CRITICAL, category="epp"))

    by_device = EventWindow.last(timedelta(hours=1), NOW, device_id="D1", device_name="ws-fin-00012")
    assert by_device.matches(event(inside, device_id="D1", device_name="other"))
    assert not by_device.matches(event(inside, device_id="D2", device_name="WS-FIN-00012"))
    assert by_device.matches(event(inside, device_name="WS-FIN-00012"))  # named without an id (SEPM)
    assert not by_device.matches(event(inside))


def test_severity_ranks_most_serious_first():
    assert sorted(Severity, key=lambda s: s.rank) == [Severity.CRITICAL, Severity.WARNING, Severity.INFO,
                                                       Severity.UNKNOWN]


def test_the_json_record():
    moment = datetime(2025, 6, 1, 9, 30, 5, 250_000, tzinfo=UTC)
    record = event(moment, device_id="d", device_name="n", organization="Org", acknowledged=False,
                   source="critical-events", raw_page=None).to_json()
    assert record == {
        "vendor": "elements", "connection": "c", "id": "e1", "time": "2025-06-01T09:30:05Z", "severity": "warning",
        "engine": "fileScanning", "category": "", "device_id": "d", "device_name": "n", "organization": "Org",
        "title": "t", "message": "", "acknowledged": False, "source": "critical-events",
    }
    assert event(moment).raw == {}


def test_capabilities_say_who_has_events():
    assert CLIENTS["elements"].capabilities.events is True
    assert CLIENTS["sepm"].capabilities.events is True
    assert CLIENTS["epmm"].capabilities.events is True  # its audit log (who locked, wiped, retired what)
    assert Capabilities().events is False


# --- window bounds as typed ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "span"), [
    ("15m", timedelta(minutes=15)), ("1h", timedelta(hours=1)), ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)), ("90s", timedelta(seconds=90)), ("2w", timedelta(weeks=2)), (" 3H ", timedelta(hours=3)),
])
def test_durations(text, span):
    assert parse_duration(text) == span
    assert parse_time_bound(text, NOW) == NOW - span


@pytest.mark.parametrize("text", ["", "h", "1.5h", "-1h", "1y", "24 hours", "yesterday"])
def test_not_durations(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-06-01T08:00:00Z", datetime(2025, 6, 1, 8, 0, tzinfo=UTC)),
    ("2025-06-01T10:00:00+02:00", datetime(2025, 6, 1, 8, 0, tzinfo=UTC)),
    ("2025-06-01T03:00:00-05:00", datetime(2025, 6, 1, 8, 0, tzinfo=UTC)),
    ("2025-06-01t08:00:00.250z", datetime(2025, 6, 1, 8, 0, 0, 250_000, tzinfo=UTC)),
    ("2025-06-01 13:30:00+05:30", datetime(2025, 6, 1, 8, 0, tzinfo=UTC)),
    ("2022-11-05T07:17:59+02:00", datetime(2022, 11, 5, 5, 17, 59, tzinfo=UTC)),  # the seed's examples
    ("2022-11-05T07:08:59-08:00", datetime(2022, 11, 5, 15, 8, 59, tzinfo=UTC)),
])
def test_rfc3339_with_any_offset_is_utc(text, expected):
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed.tzinfo is UTC
    assert parse_time_bound(text, NOW) == expected


def test_a_time_without_a_zone_or_not_a_time_is_refused_in_words():
    with pytest.raises(ValueError, match="no time zone: add Z for UTC or an offset"):
        parse_time_bound("2025-06-01T08:00:00", NOW)
    with pytest.raises(ValueError, match="neither a duration .* nor an RFC 3339 time"):
        parse_time_bound("last tuesday", NOW)


# --- HTML to text ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("html", "text"), [
    ("plain text", "plain text"),
    ("Line one<br/>Line two<br>Line three<BR />end", "Line one\nLine two\nLine three\nend"),
    ("Server c95648v1 health status: poor. \nReason: none. \nStatus reported on Jun 26, 2024 7:02:34 AM.",
     "Server c95648v1 health status: poor.\nReason: none.\nStatus reported on Jun 26, 2024 7:02:34 AM."),
    ("Tom &amp; Jerry &lt;3 &quot;x&quot; &#169; &#x263A;", 'Tom & Jerry <3 "x" \u00a9 \u263a'),
    ("See &lt;a class=&quot;bluelink&quot; href=&quot;https://kb.example/1&quot;&gt;the article&lt;/a&gt;.",
     "See the article (https://kb.example/1)."),
    ('<a href="https://kb.example/2">https://kb.example/2</a>', "https://kb.example/2"),
    ('<a href="javascript:alert(1)">click</a> here', "click here"),
    ("<p>One</p><p>Two</p><ul><li>a</li><li>b</li></ul>", "One\nTwo\na\nb"),
    ("<div>Risk: X<br/><br/>Computer: Y</div>", "Risk: X\n\nComputer: Y"),
    ("<script>alert('x')</script><style>p{}</style>visible", "visible"),
    ("<b>unclosed <i>tags", "unclosed tags"),
    ("a < b and c > d", "a < b and c > d"),
    ("a&nbsp;&nbsp;b\t\tc", "a b c"),
    ("&amp;lt;br&amp;gt;twice", "twice"),
    ("", ""),
])
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_no_terminal_control_survives():
    dirty = "red\x1b[31m alert\x07\x9b2J <b>bold</b>\r\nnext\u202eevil\x00"
    cleaned = html_to_text(dirty)
    assert cleaned == "red[31m alert2J bold\nnextevil"
    assert all(char == "\n" or char.isprintable() for char in cleaned)
    assert plain_text(None) == "" and one_line("a\n b\n\nc") == "a b c"


def test_large_or_deeply_nested_html_is_converted_quickly():
    nested = "<div>" * 5000 + "deep" + "</div>" * 5000
    assert html_to_text(nested) == "deep"
    assert html_to_text("<br>" * 10_000 + "x") == "x"
