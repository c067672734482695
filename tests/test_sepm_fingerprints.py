"""SEPM fingerprint lists and hash actions: the client against the simulator over real HTTP on loopback for
every call and every error (400, 409, 410, 422, 423), the vendor documents' payloads fed verbatim (seeds 000
and 001, fact sheet sections 8, 9 and 12), the EOC body's escaping, and the read-only rule."""

from __future__ import annotations

import asyncio
import hashlib
import json
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest

from helpers import CAPTURED_COMMAND_STATUS_TEXT, FIXED_NOW, SEED_FINGERPRINTS, assert_no_secrets, fixed_clock
from tui.hashes import SHA1_NOTE, HashError, diff_hashes, parse_hash
from tui.models import CommandStatus, Connection, FingerprintList
from tui.simulators.sepm import (
    DEMO_BLOCKLIST_NAME,
    DEMO_FILES,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    LOCKDOWN_DISABLED_GROUP,
    SepmFleet,
    SepmSimulator,
    create_app,
)
from tui.vendors.base import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    LockedError,
    NetworkError,
    NotFoundError,
    ServerError,
    UnprocessableError,
    WriteRefusedError,
)
from tui.vendors.sepm import COMMAND_STATES, SepmClient, command_row, eoc_matches, eoc_xml

API = "/sepm/api/v1"
AUTH = ("POST", f"{API}/identity/authenticate")
WAIT = 30.0
DROPPER, DUMPER, RAT = DEMO_FILES
MD5_A = "582F9B6E0CC4C1DBBD772AAAF088CB3A"
SHA256_A = "E4AC4548EEEBDBA19817B5C47322F0C95A17A9EF6AF4099088D6E552F34038D9"


class Recording(httpx.AsyncBaseTransport):
    """Real HTTP to the loopback simulator, keeping every request (with its body) for the test to read."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.sent.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def writes(self) -> list[httpx.Request]:
        return [request for request in self.sent if request.method != "GET"
                and not request.url.path.endswith("/identity/authenticate")]


async def bounded(awaitable):
    return await asyncio.wait_for(awaitable, WAIT)


@pytest.fixture
def sim(sepm_simulator) -> SepmSimulator:
    return sepm_simulator[0]


@pytest.fixture
async def connect(sepm_simulator) -> AsyncIterator[Callable[..., tuple[SepmClient, Recording]]]:
    """Clients onto a fresh 120-computer simulator; writable unless told otherwise; all closed after.

    Each /command-queue request moves the simulated clock 30 s instead of 5 s, so commands finish in a few
    polls (a test of the states in between sets it back).
    """
    simulator, url = sepm_simulator
    simulator.hash_actions.tick_ms = 30_000
    opened: list[SepmClient] = []

    def open_one(*, read_only: bool = False, password: str = DEMO_PASSWORD) -> tuple[SepmClient, Recording]:
        connection = Connection(name="lab-sepm", vendor="sepm", url=url, username=DEMO_USERNAME, allow_http=True,
                                read_only=read_only)
        transport = Recording()
        client = SepmClient(connection, password, transport=transport, clock=fixed_clock)
        opened.append(client)
        return client, transport

    yield open_one
    for client in opened:
        await client.aclose()


@pytest.fixture
def client(connect) -> SepmClient:
    return connect()[0]


def unique_id(sim: SepmSimulator, index: int) -> str:
    return sim.fleet.computer(index)["uniqueId"]


def group_id(sim: SepmSimulator, path: str) -> str:
    return next(group["id"] for group in sim.fleet.groups if group["fullPathName"] == path)


def first(sim: SepmSimulator, want: Callable[[dict], bool], exclude: set[int] = frozenset()) -> int:
    return next(index for index in range(sim.fleet.size) if index not in exclude and want(sim.fleet.computer(index)))


async def follow(client: SepmClient, command_id: str) -> list[CommandStatus]:
    async def collect() -> list[CommandStatus]:
        return [status async for status in client.follow_command(command_id, interval=0)]

    return await bounded(collect())


# --- fingerprint lists: read -------------------------------------------------------------------------------


async def test_the_seed_list_is_served_as_the_reference_shows_it(client, sim):
    """Seed 000's example list, by name, is byte-for-byte the document's JSON once parsed."""
    listing = await bounded(client.fingerprint_list("Whitelist"))

    assert sim.hash_actions.list_named("Whitelist") == json.loads(SEED_FINGERPRINTS)
    assert listing.id == "20F543E30ADA144447A5FAAA370633DF"
    assert listing.hash_type is None and listing.source is None
    assert len(listing.hashes) == 11


async def test_a_list_is_asked_for_by_name_in_the_query(client, connect):
    client, transport = connect()
    await bounded(client.fingerprint_list("Blacklist"))

    request = transport.sent[-1]
    assert (request.method, request.url.path) == ("GET", f"{API}/policy-objects/fingerprints")
    assert request.url.params["name"] == "Blacklist"


def test_the_simulator_also_answers_the_seed_form_a_get_with_a_json_body(sepm_simulator):
    """Seed 000 puts the name in a JSON body of the GET; the fact sheet (and the client) use `?name=`."""
    _, url = sepm_simulator
    with httpx.Client(base_url=url + API) as api:
        token = api.post("/identity/authenticate",
                         json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD, "domain": ""}).json()["token"]
        answer = api.request("GET", "/policy-objects/fingerprints", content=b'{\n  "name" : "Whitelist"\n}',
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert answer.status_code == 200
    assert answer.json() == json.loads(SEED_FINGERPRINTS)


async def test_a_missing_name_is_410_said_in_words(client):
    with pytest.raises(NotFoundError) as caught:
        await bounded(client.fingerprint_list("Blacklist2"))

    error = caught.value
    assert error.status == 410
    assert str(error).startswith("There is no fingerprint list named 'Blacklist2' on SEPM")
    assert "Fingerprint list with ID Blacklist2 do not exist" in str(error)
    assert_no_secrets(error, client, DEMO_PASSWORD, client._token)


async def test_a_list_by_id_and_a_missing_id(client):
    listing = await bounded(client.fingerprint_list_by_id("B5F9985ED6C449A6905A0D570A5733FC"))
    assert (listing.name, listing.hash_type, listing.hashes) == ("Blacklist", "MD5", (MD5_A,))

    with pytest.raises(NotFoundError) as caught:
        await bounded(client.fingerprint_list_by_id("0123456789ABCDEF0123456789ABCDEF"))
    assert caught.value.status == 410
    assert "no fingerprint list with id 0123456789ABCDEF0123456789ABCDEF" in str(caught.value)


@pytest.mark.parametrize("bad", ["", "  ", "../groups", "A/B", "a b"])
async def test_ids_that_would_break_the_url_are_refused_before_sending(connect, bad):
    client, transport = connect()
    with pytest.raises(ValueError):
        await bounded(client.fingerprint_list_by_id(bad))
    assert transport.sent == []


async def test_the_demo_blocklist_is_assigned_to_quarantine_and_holds_demo_hashes(client, sim):
    await bounded(client.groups())
    listing = await bounded(client.fingerprint_list(DEMO_BLOCKLIST_NAME))

    assert listing.hash_type == "SHA256"
    assert listing.hashes == (DROPPER.sha256, DUMPER.sha256)
    assert listing.group_ids == (group_id(sim, "My Company\\Quarantine"),)


# --- fingerprint lists: create, update, delete --------------------------------------------------------------


async def test_create_sends_one_post_and_the_list_can_be_read_back(connect, sim):
    client, transport = connect()
    created = await bounded(client.create_fingerprint_list(
        "IR-42", [SHA256_A.lower(), " " + DROPPER.sha256 + " "], description="Seen in IR-42"))

    (post,) = transport.writes()
    assert (post.method, post.url.path) == ("POST", f"{API}/policy-objects/fingerprints")
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.content) == {"name": "IR-42", "description": "Seen in IR-42", "hashType": "SHA256",
                                        "data": [SHA256_A, DROPPER.sha256]}
    read = await bounded(client.fingerprint_list_by_id(created.id))
    assert read == created
    assert read.source == "WEBSERVICE" and read.group_ids == ()


async def test_create_with_a_taken_name_is_409_said_in_words_and_not_retried(connect, sim):
    client, transport = connect()
    with pytest.raises(ConflictError) as caught:
        await bounded(client.create_fingerprint_list("blacklist", [MD5_A]))  # names compare without case

    error = caught.value
    assert error.status == 409
    assert "did not create fingerprint list 'blacklist' (409)" in str(error)
    assert "already exists" in str(error)
    assert len(transport.writes()) == 1
    assert [record["name"] for record in sim.hash_actions.lists.values()].count("Blacklist") == 1


@pytest.mark.parametrize(("hashes", "hash_type", "words"), [
    ([MD5_A, SHA256_A], None, "one hash type"),
    ([DROPPER.sha1], None, "SHA-1, which is not accepted here"),
    (["not-a-hash"], None, "not a hash"),
    ([MD5_A], "SHA256", "one hash type"),
    ([], None, "needs a hash type"),
    ([MD5_A], "SHA1", "MD5 or SHA-256"),
])
async def test_create_validates_hashes_before_sending(connect, hashes, hash_type, words):
    client, transport = connect()
    with pytest.raises(HashError) as caught:
        await bounded(client.create_fingerprint_list("Bad", hashes, hash_type=hash_type))
    assert words in str(caught.value)
    assert transport.sent == []


async def test_update_replaces_the_whole_list_with_post(connect, sim):
    client, transport = connect()
    current = await bounded(client.fingerprint_list("Whitelist"))
    new_hashes = [*current.hashes[2:], DROPPER.md5.lower()]

    diff = diff_hashes(current.hashes, new_hashes)
    updated = await bounded(client.update_fingerprint_list(current, new_hashes, description="trimmed"))

    assert (diff.added, diff.removed, len(diff.kept)) == ((DROPPER.md5,), current.hashes[:2], 9)
    (post,) = transport.writes()
    assert (post.method, post.url.path) == ("POST", f"{API}/policy-objects/fingerprints/{current.id}")
    body = json.loads(post.content)
    assert body["data"] == [*current.hashes[2:], DROPPER.md5]  # every hash that stays, not just the new one
    assert body["hashType"] == "MD5"  # the seed list has none; its hashes are MD5
    read = await bounded(client.fingerprint_list_by_id(current.id))
    assert read.hashes == updated.hashes == tuple(body["data"])
    assert read.description == "trimmed"


async def test_update_of_a_deleted_list_is_410_and_a_taken_name_409(client, sim):
    created = await bounded(client.create_fingerprint_list("Temp", [MD5_A]))
    with pytest.raises(ConflictError) as caught:
        await bounded(client.update_fingerprint_list(created, [MD5_A], name="Whitelist"))
    assert "another fingerprint list already has that name" in str(caught.value)

    await bounded(client.delete_fingerprint_list(created.id, name="Temp"))
    with pytest.raises(NotFoundError) as caught:
        await bounded(client.update_fingerprint_list(created, [MD5_A]))
    assert caught.value.status == 410
    assert "no longer exists" in str(caught.value)


async def test_delete_then_410(client, sim):
    created = await bounded(client.create_fingerprint_list("Gone soon", [MD5_A]))
    await bounded(client.assign_fingerprint_list(created.id, group_id(sim, "My Company\\Default Group")))

    await bounded(client.delete_fingerprint_list(created.id, name="Gone soon"))

    assert created.id not in sim.hash_actions.lists
    with pytest.raises(NotFoundError):
        await bounded(client.fingerprint_list_by_id(created.id))
    with pytest.raises(NotFoundError) as caught:
        await bounded(client.delete_fingerprint_list(created.id, name="Gone soon"))
    assert "did not delete fingerprint list 'Gone soon' (410)" in str(caught.value)


# --- system lockdown -------------------------------------------------------------------------------------------


async def test_assign_puts_the_list_on_the_group(connect, sim):
    client, transport = connect()
    await bounded(client.groups())
    target = group_id(sim, "My Company\\Workstations\\Finance")

    await bounded(client.assign_fingerprint_list("B5F9985ED6C449A6905A0D570A5733FC", target))

    (put,) = transport.writes()
    assert (put.method, put.url.path) == (
        "PUT", f"{API}/groups/{target}/system-lockdown/fingerprints/B5F9985ED6C449A6905A0D570A5733FC")
    listing = await bounded(client.fingerprint_list("Blacklist"))
    assert listing.group_ids == (target,)


async def test_assign_errors_are_said_in_words(client, sim):
    await bounded(client.groups())  # so the messages can name the group by its path
    finance = group_id(sim, "My Company\\Workstations\\Finance")
    blacklist = "B5F9985ED6C449A6905A0D570A5733FC"

    with pytest.raises(BadRequestError) as caught:
        await bounded(client.assign_fingerprint_list("0123456789ABCDEF0123456789ABCDEF", finance))
    assert caught.value.status == 400
    assert "the fingerprint list does not exist" in str(caught.value)
    assert "'My Company\\\\Workstations\\\\Finance'" in str(caught.value)

    with pytest.raises(NotFoundError) as caught:
        await bounded(client.assign_fingerprint_list(blacklist, "0123456789ABCDEF0123456789ABCDEF"))
    assert (caught.value.status, "the group does not exist" in str(caught.value)) == (410, True)

    with pytest.raises(UnprocessableError) as caught:
        await bounded(client.assign_fingerprint_list(blacklist, group_id(sim, LOCKDOWN_DISABLED_GROUP)))
    assert caught.value.status == 422
    assert "system lockdown is disabled for this group" in str(caught.value)

    await bounded(client.assign_fingerprint_list(blacklist, finance, list_name="Blacklist"))
    with pytest.raises(UnprocessableError) as caught:
        await bounded(client.assign_fingerprint_list(blacklist, finance, list_name="Blacklist"))
    assert "already assigned" in str(caught.value)

    sim.hash_actions.locked_groups.add(group_id(sim, "My Company\\Workstations\\HR"))
    with pytest.raises(LockedError) as caught:
        await bounded(client.assign_fingerprint_list(blacklist, group_id(sim, "My Company\\Workstations\\HR")))
    assert caught.value.status == 423
    assert "locked" in str(caught.value) and "try again" in str(caught.value)


def test_the_seed_lockdown_request_is_accepted_verbatim(sepm_simulator):
    """Seed 000 sends both ids in a JSON body as well; the simulator reads the path and checks the body."""
    sim, url = sepm_simulator
    seed_body = (b'{\n  "group_id" : "EF9C029A0A931BA7246C99C00F39133C",\n'
                 b'  "fingerprint_id" : "20F543E30ADA144447A5FAAA370633DF"\n}')
    with httpx.Client(base_url=url + API) as api:
        token = api.post("/identity/authenticate",
                         json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD, "domain": ""}).json()["token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        path = "/groups/EF9C029A0A931BA7246C99C00F39133C/system-lockdown/fingerprints/20F543E30ADA144447A5FAAA370633DF"
        missing_group = api.put(path, content=seed_body, headers=headers)
        real = group_id(sim, "My Company\\Default Group")
        real_body = seed_body.replace(b"EF9C029A0A931BA7246C99C00F39133C", real.encode())
        assigned = api.put(path.replace("EF9C029A0A931BA7246C99C00F39133C", real), content=real_body, headers=headers)
        mismatch = api.put(path.replace("EF9C029A0A931BA7246C99C00F39133C", real), content=seed_body, headers=headers)
    assert missing_group.status_code == 410  # the seed's group is not in this fleet; the body itself parsed
    assert (assigned.status_code, assigned.content) == (200, b"")
    assert mismatch.status_code == 400


# --- Evidence of Compromise scans -----------------------------------------------------------------------------


def test_eoc_xml_escapes_everything_the_user_types():
    nasty = 'a <b>&amp; "c" \'d\' ]]> </Description><RemediationAction>REMEDIATE</RemediationAction>\x00\x1b'
    body = eoc_xml([parse_hash(MD5_A)], remediate=False, description=nasty, creator='x"<y>',
                   when=datetime(2017, 1, 29, 16, 54, 1, tzinfo=UTC))

    root = ElementTree.fromstring(body)
    assert root.findtext("Threat/Description") == nasty.replace("\x00", "").replace("\x1b", "")
    assert root.get("creator") == 'x"<y>'
    assert root.find("RemediationAction") is None  # the text above did not become an element
    assert "<RemediationAction>" not in body
    assert root.find("Threat").get("time") == "2017-01-29 4:54:01 PM"  # the seed's format
    assert root.findtext("ScanType") == "FULL_SCAN"
    assert [(item.get("name"), item.get("value")) for item in root.iter("Hash")] == [("MD5", MD5_A.lower())]


def test_eoc_xml_asks_for_remediation_only_when_told():
    hashes = [parse_hash(MD5_A), parse_hash(DROPPER.sha1, allow_sha1=True)]
    plain = ElementTree.fromstring(eoc_xml(hashes, remediate=False, when=FIXED_NOW))
    deleting = ElementTree.fromstring(eoc_xml(hashes, remediate=True, full_scan=False, when=FIXED_NOW))

    assert plain.find("RemediationAction") is None
    assert deleting.findtext("RemediationAction") == "REMEDIATE"
    assert deleting.findtext("ScanType") == "QUICK_SCAN"
    assert [item.get("name") for item in deleting.iter("Hash")] == ["MD5", "SHA1"]


async def test_an_eoc_scan_finds_the_demo_file_where_it_is(connect, sim):
    client, transport = connect()
    holders = sim.hash_actions.holders(DROPPER)[:2]
    clean = first(sim, lambda record: record["osName"].startswith("Windows"), set(holders))
    targets = [unique_id(sim, index) for index in [*holders, clean]]

    (command,) = await bounded(client.eoc_scan([DROPPER.sha256.lower(), MD5_A], computer_ids=targets,
                                               description="IR <42> & co"))

    post = transport.writes()[0]
    assert (post.method, post.url.path) == ("POST", f"{API}/command-queue/eoc")
    assert post.url.params["computer_ids"] == ",".join(targets)
    assert "group_ids" not in post.url.params
    assert post.headers["content-type"] == "application/json"
    assert ElementTree.fromstring(post.content).findtext("Threat/Description") == "IR <42> & co"
    assert (command.kind, command.target) == ("eoc", "computers")

    statuses = await follow(client, command.id)
    final = statuses[-1]
    assert final.done and not statuses[0].done
    by_id = {row.computer_id: row for row in final.rows}
    assert set(by_id) == set(targets)
    for index in holders:
        row = by_id[unique_id(sim, index)]
        assert (row.state_id, row.state, row.final) == (3, "completed", True)
        assert row.sub_state == "security risk found"
        assert [(match.result, match.hash_value, match.path, match.remediation) for match in row.matches] == [
            ("HASH_MATCH", DROPPER.sha256, DROPPER.path, None), ("NO_MATCH", MD5_A, None, None)]
    clean_row = by_id[unique_id(sim, clean)]
    assert [match.result for match in clean_row.matches] == ["NO_MATCH", "NO_MATCH"]
    assert clean_row.sub_state == "success"
    assert clean_row.begin_time is not None and clean_row.last_update >= clean_row.begin_time


async def test_a_command_moves_through_the_states_as_it_is_polled(client, sim):
    sim.hash_actions.tick_ms = 5_000
    targets = [unique_id(sim, index) for index in range(10)]
    (command,) = await bounded(client.eoc_scan([MD5_A], computer_ids=targets))

    statuses = await follow(client, command.id)

    seen: dict[str, list[int]] = {}
    for status in statuses:
        for row in status.rows:
            history = seen.setdefault(row.computer_id, [])
            if not history or history[-1] != row.state_id:
                history.append(row.state_id)
    for history in seen.values():
        assert history == sorted(history)  # never back to an earlier state
        assert history[-1] in (3, 4, 6)
    assert any(history[:3] == [0, 1, 2] for history in seen.values())
    first_status = statuses[0]
    assert {row.state for row in first_status.rows} <= {"not yet received", "received"}
    assert all(row.sub_state == "" for row in first_status.rows if row.state_id == 0)


async def test_non_windows_computers_reject_an_eoc_scan(client, sim):
    mac = first(sim, lambda record: record["osName"] == "macOS")
    (command,) = await bounded(client.eoc_scan([MD5_A], computer_ids=[unique_id(sim, mac)]))

    (row,) = (await follow(client, command.id))[-1].rows
    assert (row.state_id, row.state, row.final) == (4, "rejected", True)
    assert row.sub_state.startswith("client did not execute")


async def test_remediation_deletes_the_file_so_a_second_scan_finds_nothing(client, sim):
    holders = sim.hash_actions.holders(DROPPER)
    targets = [unique_id(sim, index) for index in holders]

    (deleting,) = await bounded(client.eoc_scan([DROPPER.md5], computer_ids=targets, remediate=True))
    first_rows = {row.computer_id: row for row in (await follow(client, deleting.id))[-1].rows}
    (again,) = await bounded(client.eoc_scan([DROPPER.md5], computer_ids=targets))
    second_rows = {row.computer_id: row for row in (await follow(client, again.id))[-1].rows}

    outcomes = {row.matches[0].remediation for row in first_rows.values() if row.state_id == 3}
    assert outcomes <= {"SUCCEEDED", "FAILED"} and "SUCCEEDED" in outcomes
    for computer_id, row in first_rows.items():
        if row.state_id != 3:
            continue
        expected = "NO_MATCH" if row.matches[0].remediation == "SUCCEEDED" else "HASH_MATCH"
        assert second_rows[computer_id].matches[0].result == expected


async def test_a_sha1_is_searched_but_not_deleted(client, sim):
    assert "Power Eraser" in SHA1_NOTE
    holder = sim.hash_actions.holders(DROPPER)[0]

    (command,) = await bounded(client.eoc_scan([DROPPER.sha1], computer_ids=[unique_id(sim, holder)],
                                               remediate=True))

    (row,) = (await follow(client, command.id))[-1].rows
    assert row.matches[0].result == "HASH_MATCH"
    assert row.matches[0].remediation == "UNSUPPORTED"


async def test_a_group_scan_covers_its_sub_groups(connect, sim):
    client, transport = connect()
    workstations = group_id(sim, "My Company\\Workstations")

    (command,) = await bounded(client.eoc_scan([DROPPER.md5], group_ids=[workstations]))

    assert transport.writes()[0].url.params["group_ids"] == workstations
    assert command.target == "groups"
    final = (await follow(client, command.id))[-1]
    members = {unique_id(sim, index) for index in range(sim.fleet.size)
               if sim.fleet.groups[sim.fleet._group[index]]["fullPathName"].startswith("My Company\\Workstations")}
    assert {row.computer_id for row in final.rows} == members
    assert any(match.matched for row in final.rows for match in row.matches)


async def test_computers_and_groups_in_one_scan_give_two_commands(client, sim):
    commands = await bounded(client.eoc_scan([MD5_A], computer_ids=[unique_id(sim, 0)],
                                             group_ids=[group_id(sim, "My Company\\Workstations\\HR")]))
    assert [command.target for command in commands] == ["computers", "groups"]
    assert len({command.id for command in commands}) == 2


async def test_eoc_errors(connect, sim):
    client, transport = connect()
    with pytest.raises(HashError):
        await bounded(client.eoc_scan([], computer_ids=[unique_id(sim, 0)]))
    with pytest.raises(ValueError):
        await bounded(client.eoc_scan([MD5_A]))
    assert transport.sent == []

    with pytest.raises(NotFoundError) as caught:
        await bounded(client.eoc_scan([MD5_A], computer_ids=["0123456789ABCDEF0123456789ABCDEF"]))
    assert caught.value.status == 410
    assert "a computer or group it names does not exist" in str(caught.value)
    assert len(transport.writes()) == 1


def test_the_seed_eoc_example_is_accepted_verbatim(sepm_simulator):
    """Symantec article 164858's example body (seed 001), SHA-1 hashes and all, queues a command."""
    sim, url = sepm_simulator
    with httpx.Client(base_url=url + API) as api:
        token = api.post("/identity/authenticate",
                         json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD, "domain": ""}).json()["token"]
        answer = api.post("/command-queue/eoc", params={"computer_ids": unique_id(sim, 0)},
                          content=SEED_EOC.encode(),
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert answer.status_code == 200
    command = sim.hash_actions.command(answer.json()["commandID_computer"])
    assert command.remediate is True
    assert command.hashes == [("SHA1", "3c6250da5edf6b2e8d1a3930aa97a444bf3ba3de"),
                              ("SHA1", "374a884f7b650276df98bfde7d7efdaa6c4da27b")]


def test_the_seed_eoc_example_reads_as_a_result():
    matches = eoc_matches(SEED_EOC)
    assert [(match.file_name, match.hash_type, match.result) for match in matches] == [
        ("suspicious_1", "SHA1", ""), ("suspicious_2", "SHA1", "")]
    assert matches[0].hash_value == "3C6250DA5EDF6B2E8D1A3930AA97A444BF3BA3DE"


@pytest.mark.parametrize("text", [
    None, "", "not xml <", '<?xml version="1.0"?><!DOCTYPE EOC [<!ENTITY x "y">]><EOC>&x;</EOC>',
])
def test_results_that_are_not_plain_xml_give_no_matches(text):
    assert eoc_matches(text) == ()


# --- fetching a file -------------------------------------------------------------------------------------------


async def test_fetch_a_file_and_read_its_details(connect, sim):
    client, transport = connect()
    holder = sim.hash_actions.holders(DROPPER)[0]

    command = await bounded(client.fetch_file([unique_id(sim, holder)], DROPPER.path.lower(), DROPPER.md5.lower()))

    post = transport.writes()[0]
    assert (post.method, post.url.path) == ("POST", f"{API}/command-queue/files")
    assert dict(post.url.params) == {"computer_ids": unique_id(sim, holder), "file_path": DROPPER.path.lower(),
                                     "md5": DROPPER.md5, "source": "FILESYSTEM"}
    assert (command.kind, command.target) == ("fetch", "computers")
    (row,) = (await follow(client, command.id))[-1].rows
    assert (row.state, row.sub_state) == ("completed", "success")
    details = await bounded(client.file_details(row.binary_file_id))
    assert (details.size, details.checksum) == (len(DROPPER.content), hashlib.md5(DROPPER.content).hexdigest().upper())


async def test_fetch_sends_a_sha256_as_sha256(connect, sim):
    client, transport = connect()
    await bounded(client.fetch_file([unique_id(sim, 0)], "C:\\x.exe", SHA256_A, source="both"))
    params = transport.writes()[0].url.params
    assert (params["sha256"], params["source"], "md5" in params) == (SHA256_A, "BOTH", False)


async def test_a_file_that_is_not_there_ends_in_error(client, sim):
    holder = sim.hash_actions.holders(DROPPER)[0]
    command = await bounded(client.fetch_file([unique_id(sim, holder)], "C:\\Windows\\notepad.exe", DROPPER.md5))

    (row,) = (await follow(client, command.id))[-1].rows
    assert (row.state_id, row.state, row.final, row.binary_file_id) == (6, "failed", True, None)
    assert "not found" in row.sub_state


async def test_a_deleted_file_is_fetched_from_the_quarantine(client, sim):
    holder = unique_id(sim, sim.hash_actions.holders(DROPPER)[1])
    (scan,) = await bounded(client.eoc_scan([DROPPER.sha256], computer_ids=[holder], remediate=True))
    (scanned,) = (await follow(client, scan.id))[-1].rows
    deleted = scanned.matches[0].remediation == "SUCCEEDED"

    results = {}
    for source in ("FILESYSTEM", "QUARANTINE"):
        command = await bounded(client.fetch_file([holder], DROPPER.path, DROPPER.sha256, source=source))
        (row,) = (await follow(client, command.id))[-1].rows
        results[source] = row.state
    assert results == ({"FILESYSTEM": "failed", "QUARANTINE": "completed"} if deleted
                       else {"FILESYSTEM": "completed", "QUARANTINE": "failed"})


async def test_fetch_input_is_checked_before_sending(connect, sim):
    client, transport = connect()
    computer = [unique_id(sim, 0)]
    with pytest.raises(HashError):
        await bounded(client.fetch_file(computer, "C:\\x.exe", DROPPER.sha1))  # seed 001: MD5 or SHA-256 only
    with pytest.raises(ValueError):
        await bounded(client.fetch_file(computer, "C:\\x.exe", MD5_A, source="CLOUD"))
    with pytest.raises(ValueError):
        await bounded(client.fetch_file(computer, "  ", MD5_A))
    with pytest.raises(ValueError):
        await bounded(client.fetch_file([], "C:\\x.exe", MD5_A))
    assert transport.sent == []

    with pytest.raises(NotFoundError) as caught:
        await bounded(client.fetch_file(["0123456789ABCDEF0123456789ABCDEF"], "C:\\x.exe", MD5_A))
    assert "the computer does not exist" in str(caught.value)


async def test_unknown_command_and_file_ids_are_said_in_words(client):
    with pytest.raises(NotFoundError) as caught:
        await bounded(client.command_status("0123456789ABCDEF0123456789ABCDEF"))
    assert str(caught.value).startswith("There is no command 0123456789ABCDEF0123456789ABCDEF on SEPM")
    with pytest.raises(NotFoundError) as caught:
        await bounded(client.file_details("0123456789ABCDEF0123456789ABCDEF"))
    assert str(caught.value).startswith("There is no uploaded file")
    with pytest.raises(NotFoundError) as caught:
        await bounded(client.cancel_command("0123456789ABCDEF0123456789ABCDEF"))
    assert "there is no such command" in str(caught.value)


# --- cancel ----------------------------------------------------------------------------------------------------


async def test_cancel_turns_the_unfinished_rows_cancelled(connect, sim):
    client, transport = connect()
    offline = [index for index in range(sim.fleet.size) if not sim.fleet.computer(index)["onlineStatus"]][:3]
    (command,) = await bounded(client.eoc_scan([MD5_A], computer_ids=[unique_id(sim, i) for i in offline]))

    cancel = await bounded(client.cancel_command(command.id))

    post = transport.writes()[-1]
    assert (post.method, post.url.path) == ("POST", f"{API}/command-queue/{command.id}/cancel")
    assert (cancel.kind, cancel.id != command.id) == ("cancel", True)
    status = await bounded(client.command_status(command.id))
    assert status.done
    assert {row.state for row in status.rows} == {"cancelled"}
    assert all(row.matches == () for row in status.rows)
    assert (await follow(client, cancel.id))[-1].done


# --- paging, the read-only rule, login and failures ------------------------------------------------------------


async def test_command_status_reads_every_page(client, sim, monkeypatch):
    monkeypatch.setattr("tui.vendors.sepm.COMMAND_PAGE_SIZE", 7)
    (command,) = await bounded(client.eoc_scan([MD5_A], group_ids=[group_id(sim, "My Company")]))

    status = await bounded(client.command_status(command.id))

    assert len(status.rows) == sim.fleet.size
    assert len({row.computer_id for row in status.rows}) == sim.fleet.size


async def test_a_read_only_connection_refuses_every_write_and_sends_nothing(connect, sim):
    client, transport = connect(read_only=True)
    listing = FingerprintList("B5F9985ED6C449A6905A0D570A5733FC", "Blacklist", "MD5", "WEBSERVICE", "", (MD5_A,), ())
    writes = [
        client.create_fingerprint_list("New", [MD5_A]),
        client.update_fingerprint_list(listing, [MD5_A, DROPPER.md5]),
        client.delete_fingerprint_list(listing.id, name="Blacklist"),
        client.assign_fingerprint_list(listing.id, group_id(sim, "My Company\\Workstations\\HR")),
        client.eoc_scan([MD5_A], computer_ids=[unique_id(sim, 0)], remediate=True),
        client.fetch_file([unique_id(sim, 0)], DROPPER.path, DROPPER.md5),
        client.cancel_command("0123456789ABCDEF0123456789ABCDEF"),
    ]
    before = len(sim.requests)
    for write in writes:
        with pytest.raises(WriteRefusedError) as caught:
            await bounded(write)
        message = str(caught.value)
        assert message.startswith("Connection lab-sepm is read-only, so it did not ")
        assert "read_only = false" in message
    assert transport.sent == [] and len(sim.requests) == before
    assert sim.hash_actions.list_named("Blacklist")["data"] == [MD5_A]

    assert (await bounded(client.fingerprint_list("Blacklist"))).hashes == (MD5_A,)  # reads still work


async def test_read_only_is_said_before_the_input_is_judged(connect):
    """Fixing a hash only to be told the connection is read-only would waste the responder's time."""
    client, transport = connect(read_only=True)
    with pytest.raises(WriteRefusedError):
        await bounded(client.create_fingerprint_list("", ["not a hash"]))
    with pytest.raises(WriteRefusedError):
        await bounded(client.eoc_scan([], computer_ids=[]))
    with pytest.raises(WriteRefusedError):
        await bounded(client.fetch_file([], "", "x", source="nowhere"))
    assert transport.sent == []


async def test_a_write_after_the_token_expired_logs_in_once_and_is_sent_once_more(connect, sim):
    client, transport = connect()
    await bounded(client.check_login())
    sim.expire_tokens()
    start = len(sim.requests)

    created = await bounded(client.create_fingerprint_list("After expiry", [MD5_A]))

    posts = [request for request in sim.requests[start:] if request == ("POST", f"{API}/policy-objects/fingerprints")]
    assert len(posts) == 2 and sim.requests[start:].count(AUTH) == 1
    assert [record["name"] for record in sim.hash_actions.lists.values()].count("After expiry") == 1
    assert (await bounded(client.fingerprint_list("After expiry"))).id == created.id


async def test_a_write_refused_twice_is_an_authentication_error(connect, sim):
    client, _ = connect()
    await bounded(client.check_login())
    sim.faults.add("expire-token", path=f"{API}/policy-objects/fingerprints", times=2)
    with pytest.raises(AuthenticationError):
        await bounded(client.create_fingerprint_list("Never", [MD5_A]))
    assert all(record["name"] != "Never" for record in sim.hash_actions.lists.values())


async def test_a_failed_write_is_not_retried(connect, sim):
    client, transport = connect()
    await bounded(client.check_login())
    sim.faults.add("html", path=f"{API}/command-queue/eoc", times=3)

    with pytest.raises(ServerError):
        await bounded(client.eoc_scan([MD5_A], computer_ids=[unique_id(sim, 0)]))
    assert len(transport.writes()) == 1


async def test_a_dropped_write_says_it_may_have_happened(connect, sim):
    client, _ = connect()
    await bounded(client.check_login())
    sim.faults.add("reset", path=f"{API}/policy-objects/fingerprints")

    with pytest.raises(NetworkError) as caught:
        await bounded(client.create_fingerprint_list("Maybe", [MD5_A]))
    assert "may or may not have done it" in str(caught.value)
    assert not caught.value.retryable


# --- the vendor documents' payloads, verbatim --------------------------------------------------------------------

SEED_EOC = """<EOC creator="Creator" version="1.1" id="60">
<DataSource name="Third-Party Provider" id="23" version="1.0"/>
<ScanType>FULL_SCAN</ScanType>
<RemediationAction>REMEDIATE</RemediationAction>
<Threat category="Suspects" type="to_investigate" severity="Medium" time="2017-01-29 4:54:01 PM">
<Description>Very basic test to search by hash</Description>
<Attacker></Attacker>
</Threat>
<Activity>
<OS id="1" name="" version="" patch="">
<Process></Process>
<Files>
<File name="suspicious_1" action="write">
<Hash name="SHA1" value="3c6250da5edf6b2e8d1a3930aa97a444bf3ba3de"/>
</File>
<File name="suspicious_2" action="write">
<Hash name="SHA1" value="374a884f7b650276df98bfde7d7efdaa6c4da27b"/>
</File>
</Files>
<Registry></Registry>
<Network></Network>
</OS>
</Activity>
</EOC>"""
"""Symantec article 164858 (seed 001): the example Evidence of Compromise body."""

FACT_ANSWERS = {
    ("GET", "/policy-objects/fingerprints"): (200, '{"description": "Hash of type Malware MD5 Hash", "hashType": "MD5", "source": "WEBSERVICE",\n "groupIds": [], "data": ["582F9B6E0CC4C1DBBD772AAAF088CB3A"],\n "id": "B5F9985ED6C449A6905A0D570A5733FC", "name": "Blacklist"}'),
    ("POST", "/policy-objects/fingerprints"): (200, '{"id": "44BB68279D984220AD60A069DCF6079F"}'),
    ("POST", "/policy-objects/fingerprints/44BB68279D984220AD60A069DCF6079F"): (200, ""),
    ("DELETE", "/policy-objects/fingerprints/44BB68279D984220AD60A069DCF6079F"): (200, ""),
    ("PUT", "/groups/EF9C029A0A931BA7246C99C00F39133C/system-lockdown/fingerprints/44BB68279D984220AD60A069DCF6079F"):
        (200, '""'),
    ("GET", "/policy-objects/fingerprints/0000"): (
        410, '{"errorCode": "410", "appErrorCode": "", "errorMessage": "Fingerprint list with ID Blacklist2 do not exist"}'),
    ("POST", "/command-queue/eoc"): (
        200, '{"commandID_computer": "0F0CBDD7EDFF4634B23FA11F5AB81FFC", "commandID_group": "BB37F78894DB451B8E8921EC127667A3"}'),
    ("POST", "/command-queue/files"): (200, '{"commandID": "C9456A597A0E42A89F243B8A537A056D"}'),
    ("GET", "/command-queue/0F0CBDD7EDFF4634B23FA11F5AB81FFC"): (200, CAPTURED_COMMAND_STATUS_TEXT),
    ("POST", "/command-queue/0F0CBDD7EDFF4634B23FA11F5AB81FFC/cancel"): (
        200, '{"commandID": "4C697374D15C433880A56800BAC25E56"}'),
    ("GET", "/command-queue/file/CD02BC8E0A6606D53533F2428BB86D4E/details"): (
        200, '{"id": "CD02BC8E0A6606D53533F2428BB86D4E", "fileSize": 1071101, "checksum": "4BE0BB3B57044CAD186FB59C2B7A13BB"}'),
}


def documented_console() -> SepmClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"{API}/identity/authenticate":
            return httpx.Response(200, json={"token": "documented-token", "tokenExpiration": 43199})
        status, body = FACT_ANSWERS[(request.method, request.url.path.removeprefix(API))]
        return httpx.Response(status, text=body, headers={"content-type": "application/json"} if body else {})

    connection = Connection(name="documented", vendor="sepm", url="https://sepm.example:8446", username="admin",
                            read_only=False)
    return SepmClient(connection, "password", transport=httpx.MockTransport(handle), clock=fixed_clock)


async def test_the_documented_answers_parse():
    client = documented_console()

    listing = await client.fingerprint_list("Blacklist")
    assert (listing.id, listing.hashes) == ("B5F9985ED6C449A6905A0D570A5733FC", (MD5_A,))
    created = await client.create_fingerprint_list("Blacklist2", [SHA256_A.lower()],
                                                   description="Fingerprint list 'Blacklist2'")
    assert created.id == "44BB68279D984220AD60A069DCF6079F"
    await client.update_fingerprint_list(created, [SHA256_A, DROPPER.sha256])  # 200 with an empty body
    await client.assign_fingerprint_list(created.id, "EF9C029A0A931BA7246C99C00F39133C")  # 200 with ""
    await client.delete_fingerprint_list(created.id)
    with pytest.raises(NotFoundError) as caught:
        await client.fingerprint_list_by_id("0000")
    assert "Fingerprint list with ID Blacklist2 do not exist" in str(caught.value)

    commands = await client.eoc_scan([MD5_A], computer_ids=["236A7100A9FE9DC50A4F1AC2819C158E"],
                                     group_ids=["EF9C029A0A931BA7246C99C00F39133C"])
    assert [(command.id, command.target) for command in commands] == [
        ("0F0CBDD7EDFF4634B23FA11F5AB81FFC", "computers"), ("BB37F78894DB451B8E8921EC127667A3", "groups")]
    fetch = await client.fetch_file(["236A7100A9FE9DC50A4F1AC2819C158E"], "C:\\x.exe", MD5_A)
    assert (fetch.id, fetch.kind) == ("C9456A597A0E42A89F243B8A537A056D", "fetch")
    cancel = await client.cancel_command("0F0CBDD7EDFF4634B23FA11F5AB81FFC")
    assert (cancel.id, cancel.kind) == ("4C697374D15C433880A56800BAC25E56", "cancel")
    details = await client.file_details("CD02BC8E0A6606D53533F2428BB86D4E")
    assert (details.size, details.checksum) == (1071101, "4BE0BB3B57044CAD186FB59C2B7A13BB")

    status = await client.command_status("0F0CBDD7EDFF4634B23FA11F5AB81FFC")
    waiting, done = status.rows
    assert not status.done and status.counts() == {"not yet received": 1, "completed": 1}
    assert (waiting.state, waiting.sub_state, waiting.begin_time, waiting.final) == ("not yet received", "", None, False)
    assert (done.state, done.sub_state, done.final) == ("completed", "success", True)
    assert done.begin_time == datetime(2019, 6, 6, 10, 42, 37, tzinfo=UTC)
    assert [(match.hash_type, match.hash_value, match.result) for match in done.matches] == [("MD5", MD5_A, "NO_MATCH")]
    await client.aclose()


@pytest.mark.parametrize(("state", "sub_state", "description", "words", "sub_words", "final"), [
    (0, 0, None, "not yet received", "", False),
    (1, -1, "", "received", "", False),
    (2, 0, "", "in progress", "", False),
    (3, 0, "", "completed", "success", True),
    (3, 101, "", "completed", "security risk found", True),
    (4, 1, "", "rejected", "client did not execute", True),
    (5, 0, "", "cancelled", "", True),  # SEPM's sub-state 0 is "success" only for a completed command
    (6, 121, "Server unreachable", "failed", "LiveUpdate download failed (Server unreachable)", True),
    (6, 999, "", "failed", "sub-state 999", True),
    (9, None, None, "state 9", "", False),
    ("3", "105", None, "completed", "scan did not return status", True),
])
def test_states_and_sub_states_in_words(state, sub_state, description, words, sub_words, final):
    row = command_row({"stateId": state, "subStateId": sub_state, "subStateDesc": description,
                       "computerId": "X", "computerName": "PC"})
    assert (row.state, row.sub_state, row.final) == (words, sub_words, final)
    assert set(COMMAND_STATES) == set(range(7))


# --- the simulator's demo files ------------------------------------------------------------------------------------


def test_the_documented_demo_hashes_are_the_files_hashes():
    for demo in DEMO_FILES:
        assert demo.md5 == hashlib.md5(demo.content).hexdigest().upper()
        assert demo.sha1 == hashlib.sha1(demo.content).hexdigest().upper()
        assert demo.sha256 == hashlib.sha256(demo.content).hexdigest().upper()


def test_the_demo_fleet_holds_every_demo_file():
    """`epx --demo` (500 computers, seed 7): a demo user finds each documented hash somewhere."""
    actions = SepmSimulator(SepmFleet(500, seed=7, now=FIXED_NOW)).hash_actions
    for demo in DEMO_FILES:
        assert actions.holders(demo), demo.key


async def test_the_command_queue_is_deterministic():
    """Two simulators grown from the same seed answer the same scan with the same ids and results."""
    finals = []
    for _ in range(2):
        simulator = SepmSimulator(SepmFleet(60, seed=5, now=FIXED_NOW))
        connection = Connection(name="d", vendor="sepm", url="https://sepm.test", username=DEMO_USERNAME,
                                read_only=False)
        client = SepmClient(connection, DEMO_PASSWORD, transport=httpx.ASGITransport(app=create_app(simulator)),
                            clock=fixed_clock)
        (command,) = await client.eoc_scan([DROPPER.md5, RAT.sha256], group_ids=[simulator.fleet.groups[0]["id"]],
                                           remediate=True)
        statuses = await follow(client, command.id)
        finals.append((command.id, len(statuses), statuses[-1]))
        await client.aclose()
    assert finals[0] == finals[1]
