"""Fuzzing every normalizer and parser with hypothesis (issue 7).

Given any JSON shape (wrong types, nulls, lists where dicts belong, huge numbers, odd text, missing and extra
keys), a parser returns a well-formed record or raises the typed error it documents (`BadResponseError`,
`ConfigError`, `HashError`, `ValueError`), never another exception. The shapes start from the real payloads
(the seeds' examples and the simulators' generated fleets) and are mutated, so the fuzzer gets past the first
type check into the health, time and text logic.

Files: test_fuzz_clients.py (whole answers through the clients), test_fuzz_inputs.py (times, hashes and
config.toml); the strategies, the real payloads they mutate and the record checks are in helpers.py.
`--hypothesis-profile=thorough` runs 10,000 examples a test (see README, "Fuzzing").
"""

from __future__ import annotations

import json

from hypothesis import example, given
from hypothesis import strategies as st

from helpers import (
    ELEMENTS_DEVICES,
    ELEMENTS_EVENTS,
    ELEMENTS_FLEET,
    ELEMENTS_ORGANIZATIONS,
    EOC_RESULT,
    EPMM_DEVICES,
    EPMM_LABELS,
    EPMM_SPACES,
    FIXED_NOW,
    JSON,
    SEPM_COMMAND_ROWS,
    SEPM_COMMANDS,
    SEPM_COMPUTERS,
    SEPM_CRITICAL_EVENTS,
    SEPM_FINGERPRINTS,
    SEPM_GROUPS,
    SEPM_READS,
    TEXT,
    anything,
    aware_utc,
    check_device,
    check_event,
    check_groups,
    mutated,
    optional_bool,
)
from tui.models import CommandRow, FingerprintList
from tui.vendors import elements, epmm, sepm
from tui.vendors.base import BadResponseError, epoch_ms, epoch_or_rfc3339, rfc3339
from tui.vendors.html_text import html_to_text, one_line, plain_text

# --- SEPM --------------------------------------------------------------------------------------------------

SEPM_GROUPS_BY_ID = {group.id: group for group in sepm.groups_from_records(SEPM_GROUPS)}


@given(mutated(SEPM_COMPUTERS, SEPM_READS))
@example({**SEPM_COMPUTERS[0], "apOnOff": [0], "bashStatus": {"value": 4}, "onlineStatus": [1]})  # TypeError once
@example({**SEPM_COMPUTERS[0], "group": {"id": []}, "deploymentTargetVersion": "9" * 5000})
def test_sepm_computer_maps_to_a_device_or_a_bad_response(record):
    try:
        device = sepm.computer_to_device(record, "fuzz", SEPM_GROUPS_BY_ID, FIXED_NOW.date())
    except BadResponseError:
        return
    check_device(device)


@given(st.lists(mutated(SEPM_GROUPS), max_size=6))
def test_sepm_groups_build_a_tree(records):
    check_groups(sepm.groups_from_records(records))


@given(anything(SEPM_FINGERPRINTS))
def test_sepm_fingerprint_list_or_bad_response(body):
    try:
        found = sepm.fingerprint_list_from_record(body)
    except BadResponseError:
        return
    assert isinstance(found, FingerprintList)
    assert all(isinstance(item, str) for item in (*found.hashes, *found.group_ids))


@given(mutated(SEPM_COMMAND_ROWS))
def test_sepm_command_status_row(record):
    row = sepm.command_row(record)
    assert isinstance(row, CommandRow) and isinstance(row.state, str) and isinstance(row.sub_state, str)
    assert aware_utc(row.begin_time) and aware_utc(row.last_update)


@given(anything(SEPM_CRITICAL_EVENTS))
def test_sepm_critical_event(record):
    check_event(sepm.critical_event(record, "fuzz"))


@given(anything(SEPM_COMMAND_ROWS), mutated(SEPM_COMMANDS))
def test_sepm_command_event(row, command):
    check_event(sepm.command_event(row, command, "fuzz"))


def _xml_attribute(name: str, value: str) -> str:
    escaped = value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return f' {name}="{escaped}"'


@st.composite
def eoc_results(draw: st.DrawFn) -> str:
    """An EOC result: the real one with text spliced in anywhere, or files of arbitrary attributes."""
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(EOC_RESULT)))
        return EOC_RESULT[:cut] + draw(TEXT) + EOC_RESULT[cut + draw(st.integers(0, 20)):]
    names = st.sampled_from(["name", "value", "result", "hashType", "hashValue", "remediation", "action"])
    files = []
    for _ in range(draw(st.integers(0, 3))):
        parts = ["".join(_xml_attribute(name, value) for name, value in draw(
            st.dictionaries(names, st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                                           max_size=10), max_size=4)).items()) for _ in range(3)]
        tags = draw(st.lists(st.sampled_from(["Hash", "Matched"]), max_size=2))
        files.append(f"<File{parts[0]}>" + "".join(f"<{tag}{part}/>" for tag, part in zip(tags, parts[1:])) + "</File>")
    return "<EOC>" + "".join(files) + "</EOC>"


@given(st.one_of(eoc_results(), TEXT))
def test_sepm_eoc_result_xml(text):
    for match in sepm.eoc_matches(text):
        assert isinstance(match.hash_value, str) and isinstance(match.result, str)


@given(JSON)
def test_sepm_scalars(value):
    assert aware_utc(epoch_or_rfc3339(value))
    assert sepm.version_tuple(value) is None or all(isinstance(part, int) for part in sepm.version_tuple(value))
    age = sepm.definitions_age_days(value, FIXED_NOW.date())
    assert age is None or age >= 0


# --- EPMM --------------------------------------------------------------------------------------------------

EPMM_SPACE_IDS = {str(space["name"]): str(space["id"]) for space in EPMM_SPACES}


@given(mutated(EPMM_DEVICES))
def test_epmm_device(record):
    try:
        device = epmm.record_to_device(record, "fuzz", EPMM_SPACE_IDS, FIXED_NOW)
    except BadResponseError:
        return
    check_device(device)


@given(st.lists(mutated(EPMM_SPACES), max_size=4), st.lists(mutated(EPMM_LABELS), max_size=4))
def test_epmm_groups(spaces, labels):
    check_groups(epmm.groups_from_records(spaces, labels))


@given(JSON, TEXT, TEXT)
def test_epmm_scalars(value, platform, version):
    assert optional_bool(epmm.flag(value))
    assert all(isinstance(item, str) for item in epmm.texts(value))
    assert isinstance(epmm.shown(value), str)
    assert optional_bool(epmm.os_unsupported(platform, version))


# --- Elements ----------------------------------------------------------------------------------------------

ELEMENTS_GROUPS = elements.organization_tree(ELEMENTS_ORGANIZATIONS, ELEMENTS_FLEET.partner["id"])
ELEMENTS_GROUPS_BY_ID = {group.id: group for group in ELEMENTS_GROUPS}


@given(mutated(ELEMENTS_DEVICES))
def test_elements_device(record):
    try:
        device = elements.device_from_record(record, "fuzz", ELEMENTS_GROUPS_BY_ID)
    except BadResponseError:
        return
    check_device(device)


@given(st.lists(anything(ELEMENTS_ORGANIZATIONS), max_size=6), st.one_of(TEXT, st.just(ELEMENTS_FLEET.partner["id"])))
def test_elements_organization_tree(records, own_id):
    groups = elements.organization_tree(records, own_id)
    check_groups(groups)
    assert all(isinstance(org, str | None) for org in elements.device_organizations(groups, own_id, own_id))


@given(anything(ELEMENTS_EVENTS), st.sampled_from(["", "epp", "edr"]))
def test_elements_security_event(record, engine_group):
    check_event(elements.security_event(record, "fuzz", engine_group=engine_group))


@st.composite
def page_bodies(draw: st.DrawFn) -> bytes:
    """A page's bytes as the Elements API ends them, with the anchor member mangled, or any bytes at all."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    anchor = draw(st.one_of(JSON, st.text(max_size=1100)))
    body = json.dumps({"items": draw(st.lists(JSON, max_size=2)), "nextAnchor": anchor}, ensure_ascii=draw(st.booleans()))
    cut = draw(st.integers(0, len(body)))
    return (body[:cut] + draw(st.sampled_from(["", "\\", '"', "}", " }"])) + body[cut:]).encode("utf-8", "surrogatepass")


@given(page_bodies())
def test_elements_next_anchor_peek(body):
    anchor = elements.peek_anchor(body)
    assert anchor is None or (isinstance(anchor, str) and anchor)


@given(JSON)
@example(10**20)
@example("9999-12-31T23:59:59-01:00")
def test_elements_scalars(value):
    assert all(isinstance(address, str) and address for address in elements.ip_addresses(value))
    assert aware_utc(rfc3339(value)) and aware_utc(epoch_ms(value)) and aware_utc(epoch_or_rfc3339(value))


# --- text from consoles ----------------------------------------------------------------------------------

HTMLISH = st.lists(st.sampled_from([*"<>/!&#;[]-='\"?abrxX0 \n\t\x1b\u202e", "<br>", '<a href="https://x">', "</a>",
                                     "<script>", "</script>", "&lt;", "&amp;", "&#x1b;", "&#0;", "<![CDATA[", "<![x[",
                                     "<!--", "-->", "<p>", "</div>", "&#99999999;", "<?", "<!DOCTYPE"]),
                   max_size=40).map("".join)
UNSAFE = set(map(chr, [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)])) | set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@given(st.one_of(HTMLISH, TEXT, JSON))
@example("<br><![x[")  # AssertionError from html.parser once
def test_console_text_is_printable(text):
    for convert in (html_to_text, plain_text):
        shown = convert(text)
        assert isinstance(shown, str) and not UNSAFE.intersection(shown)
    assert "\n" not in one_line(html_to_text(text))
