"""Fuzzing every normalizer and parser with hypothesis (issue 7).

Given any JSON shape (wrong types, nulls, lists where dicts belong, huge numbers, odd text, missing and extra
keys), a parser returns a well-formed record or raises the typed error it documents (`BadResponseError`,
`ConfigError`, `HashError`, `ValueError`), never another exception. The shapes start from the real payloads
(the seeds' examples and the simulators' generated fleets) and are mutated, so the fuzzer gets past the first
type check into the health, time and text logic.

Files: test_fuzz_clients.py (whole answers through the clients), test_fuzz_inputs.py (times, hashes and
config.toml). `--hypothesis-profile=thorough` runs 10,000 examples a test (see README, "Fuzzing").
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st
from test_events_sepm import CAPTURED_COMMAND_STATUS, CAPTURED_CRITICAL_EVENTS
from test_sepm_seed_payloads import SEED_FINGERPRINTS, SEED_GROUPS

from tui.models import CommandRow, Device, Event, FingerprintList, Group, Health
from tui.simulators.elements import ElementsEventLog, ElementsFleet
from tui.simulators.epmm import EpmmFleet
from tui.simulators.sepm import SepmEventLog, SepmFleet
from tui.vendors import elements, epmm, sepm
from tui.vendors.base import BadResponseError, epoch_ms, epoch_or_rfc3339, rfc3339
from tui.vendors.html_text import html_to_text, one_line, plain_text

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# --- arbitrary JSON, weighted towards the values that reach deep code ---------------------------------------

TRICKY_TEXT = st.sampled_from([
    "", " ", "0", "1", "3", "4", "127", "-1", "NaN", "-Infinity", "1e400", "null", "true", "None", "9" * 30,
    "9" * 5000, "1.²", "٣.١", "14.3.9717.7000", "14.2", "240820021", "991231001", "000000", "2024-06-26 14:02:50.0",
    "2019-06-06T10:42:37Z", "2022-11-05t07:08:59.550z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00",
    "1720622406545", "99999999999999999999", "critical", "important", "allOk", "disabled", "missingCriticalUpdates",
    "RETIRED", "LOST", "Compromised", "ios", "Android", "windows", "********", "(obfuscated)", "a,b;c", "10.0.0.5/24",
    "<b>x</b><br/>Computer: PC-1", "&lt;a href=&quot;https://x&quot;&gt;y&lt;/a&gt;", "<![x[", "<!DOCTYPE a>",
    "\x1b[31mred", "\u202eevil", "\ud7ff\U0010ffff", "line\r\nbreak\u2028", "HASH_MATCH", "CRITICAL: RISK",
])
TEXT = st.one_of(st.text(max_size=24), TRICKY_TEXT)
INTS = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 5, 127, -1, 2**31, 2**53 + 1, 2**63, -(2**63), 2**64]),
                 st.integers(min_value=-(2**64), max_value=2**64))
SCALARS = st.one_of(st.none(), st.booleans(), INTS, st.floats(allow_nan=False, allow_infinity=False), TEXT)
"""What orjson can hand over: integers beyond 64 bits arrive as floats, NaN and infinities are refused."""
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=8,
)


def dicts_in(node: object) -> list[dict]:
    """Every dict inside `node` (itself first), the places a mutation can land."""
    found: list[dict] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict] | st.SearchStrategy, focus: frozenset[str] = frozenset()) -> dict:
    """A real record with a few keys, anywhere in it, dropped, added, or replaced by arbitrary JSON or by
    their own value in the wrong shape (wrapped in a list or a dict, turned into text). Half the time the key
    is one of `focus`, the fields the parser reads, so that a record of a hundred fields still reaches them.
    `bases` are the records to start from, or a strategy that makes them."""
    record = copy.deepcopy(draw(bases if isinstance(bases, st.SearchStrategy) else st.sampled_from(bases)))
    for _ in range(draw(st.integers(0, 6))):
        target = draw(st.sampled_from(dicts_in(record)))
        if not target or draw(st.integers(0, 5)) == 0:
            target[draw(st.one_of(st.text(max_size=12), st.sampled_from(sorted(target) or [""])))] = draw(JSON)
            continue
        read = sorted(focus.intersection(target))
        key = draw(st.sampled_from(read if read and draw(st.booleans()) else sorted(target)))
        how = draw(st.sampled_from(("drop", "json", "list", "dict", "text")))
        if how == "drop":
            del target[key]
        else:
            value = target[key]
            target[key] = {"json": lambda: draw(JSON), "list": lambda: [value], "dict": lambda: {"value": value},
                           "text": lambda: str(value)}[how]()
    return record


def anything(bases: list[dict]) -> st.SearchStrategy:
    """A mutated real record most of the time, else any JSON value at all."""
    return st.one_of(mutated(bases), mutated(bases), JSON)


# --- the real payloads the mutations start from -----------------------------------------------------------

SEPM_FLEET = SepmFleet(size=40, seed=11, now=NOW)
SEPM_COMPUTERS = [SEPM_FLEET.computer(index) for index in range(40)] + [
    SepmFleet(size=5, seed=2, now=NOW, legacy_os_keys=True).computer(index) for index in range(5)]
SEPM_GROUPS = SEPM_FLEET.groups + json.loads(SEED_GROUPS)["content"]
SEPM_CRITICAL_EVENTS = CAPTURED_CRITICAL_EVENTS["criticalEventsInfoList"] + SepmEventLog(SEPM_FLEET).events[:20]
EOC_RESULT = ('<EOC creator="Endpoint Explorer" version="1.1" id="1"><Activity><OS id="1"><Files>'
              '<File name="Invoice.pdf.exe" action="write"><Hash name="MD5" value="da1a8a89467b0e326deb152c3944e979"/>'
              '<Matched result="HASH_MATCH" hashType="MD5" hashValue="DA1A8A89467B0E326DEB152C3944E979" '
              'remediation="SUCCEEDED" value="C:\\Users\\Public\\Downloads\\Invoice.pdf.exe"/></File>'
              '</Files></OS></Activity></EOC>')
SEPM_COMMAND_ROWS = CAPTURED_COMMAND_STATUS["content"] + [
    {**CAPTURED_COMMAND_STATUS["content"][1], "subStateId": 101, "resultInXML": EOC_RESULT,
     "binaryFileId": "CD02BC8E0A6606D53533F2428BB86D4E"}]
SEPM_COMMANDS = [{"commandId": "4C697374D15C433880A56800BAC25E56", "commandType": "EOC",
                  "beginTime": "2026-11-25T10:42:37Z", "binaryFileId": None}]
SEPM_FINGERPRINTS = [json.loads(SEED_FINGERPRINTS)]

EPMM_FLEET = EpmmFleet(size=40, seed=11, now=NOW)
EPMM_DEVICES = [EPMM_FLEET.device(index) for index in range(40)]
EPMM_SPACES = EPMM_FLEET.spaces
EPMM_LABELS = EPMM_FLEET.labels(1)

ELEMENTS_FLEET = ElementsFleet(size=40, seed=11, now=NOW)
ELEMENTS_DEVICES = [ELEMENTS_FLEET.device(index) for index in range(40)]
ELEMENTS_ORGANIZATIONS = [ELEMENTS_FLEET.partner, *ELEMENTS_FLEET.companies]
_ELEMENTS_LOG = ElementsEventLog(ELEMENTS_FLEET)
ELEMENTS_EVENTS = [_ELEMENTS_LOG.event(position) for position in range(0, len(_ELEMENTS_LOG), max(1, len(_ELEMENTS_LOG) // 40))]


# --- what a well-formed record is -------------------------------------------------------------------------

def aware_utc(moment: object) -> bool:
    return moment is None or (isinstance(moment, datetime) and moment.utcoffset() == timedelta(0))


def _optional_bool(value: object) -> bool:
    return value is None or isinstance(value, bool)


def check_device(device: Device) -> None:
    """Typed fields, as the table, the filters and the CLI's JSON rely on them."""
    assert isinstance(device, Device)
    for text in (device.vendor, device.connection, device.id, device.name, device.os, device.group, device.user):
        assert isinstance(text, str)
    assert device.group_id is None or isinstance(device.group_id, str), device.group_id
    assert all(isinstance(item, str) for item in (*device.ip_addresses, *device.labels, *device.health_reasons))
    assert isinstance(device.health, Health)
    assert _optional_bool(device.online) and _optional_bool(device.missing_critical_patches)
    assert aware_utc(device.last_seen)
    json.dumps(device.to_json())
    assert isinstance(device.raw, dict)


def check_event(event: Event | None) -> None:
    if event is None:
        return
    assert isinstance(event, Event) and aware_utc(event.time) and aware_utc(event.device_time)
    for text in (event.id, event.engine, event.category, event.title, event.message, event.organization):
        assert isinstance(text, str)
    assert event.device_id is None or isinstance(event.device_id, str)
    assert event.device_name is None or isinstance(event.device_name, str)
    json.dumps(event.to_json())


def check_groups(groups: list[Group]) -> None:
    ids = {group.id for group in groups}
    for group in groups:
        assert isinstance(group.id, str) and isinstance(group.name, str)
        assert all(isinstance(part, str) for part in group.path)
        assert group.parent_id is None or group.parent_id in ids
        json.dumps(group.to_json())


# --- SEPM --------------------------------------------------------------------------------------------------

SEPM_GROUPS_BY_ID = {group.id: group for group in sepm.groups_from_records(SEPM_GROUPS)}


SEPM_READS = frozenset({
    "infected", "apOnOff", "avEngineOnOff", "firewallOnOff", "tamperOnOff", "bashStatus", "rebootRequired",
    "avDefsetVersion", "deploymentRunningVersion", "agentVersion", "deploymentTargetVersion", "onlineStatus", "group",
    "id", "name", "fullPathName", "ipAddresses", "lastUpdateTime", "uniqueId", "hardwareKey", "computerName", "osName",
    "osname", "operatingSystem", "logonUserName"})
"""The fields of a computer that `sepm.computer_to_device` reads."""


@given(mutated(SEPM_COMPUTERS, SEPM_READS))
@example({**SEPM_COMPUTERS[0], "apOnOff": [0], "bashStatus": {"value": 4}, "onlineStatus": [1]})  # TypeError once
@example({**SEPM_COMPUTERS[0], "group": {"id": []}, "deploymentTargetVersion": "9" * 5000})
def test_sepm_computer_maps_to_a_device_or_a_bad_response(record):
    try:
        device = sepm.computer_to_device(record, "fuzz", SEPM_GROUPS_BY_ID, NOW.date())
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
    age = sepm.definitions_age_days(value, NOW.date())
    assert age is None or age >= 0


# --- EPMM --------------------------------------------------------------------------------------------------

EPMM_SPACE_IDS = {str(space["name"]): str(space["id"]) for space in EPMM_SPACES}


@given(mutated(EPMM_DEVICES))
def test_epmm_device(record):
    try:
        device = epmm.record_to_device(record, "fuzz", EPMM_SPACE_IDS, NOW)
    except BadResponseError:
        return
    check_device(device)


@given(st.lists(mutated(EPMM_SPACES), max_size=4), st.lists(mutated(EPMM_LABELS), max_size=4))
def test_epmm_groups(spaces, labels):
    check_groups(epmm.groups_from_records(spaces, labels))


@given(JSON, TEXT, TEXT)
def test_epmm_scalars(value, platform, version):
    assert _optional_bool(epmm.flag(value))
    assert all(isinstance(item, str) for item in epmm.texts(value))
    assert isinstance(epmm.shown(value), str)
    assert _optional_bool(epmm.os_unsupported(platform, version))


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
