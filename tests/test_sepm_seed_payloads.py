"""The example payloads of the SEPM 14 REST API reference (seed 000_72b2ea4bc55ce9c6.txt), verbatim,
served to the real client through httpx's mock transport: every one of them must parse. Those the fuzz tests
also start from (authenticate, groups, fingerprints) are in helpers.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from helpers import SEED_AUTHENTICATE, SEED_FINGERPRINTS, SEED_GROUPS
from tui.models import Connection
from tui.vendors.base import NotFoundError
from tui.vendors.sepm import SepmClient

SEED_VERSION = """{"API_SEQUENCE": "161014002", "API_VERSION": "1.0.0",  
  "version": "14.0.1904.0000"}"""


# The document shows the paging fields of the same response as a separate fragment; joined, they
# must parse too.
SEED_GROUPS_PAGE_TAIL = """
  "size": 25,
  "number": 0,
  "totalPages": 1,
  "lastPage": true,
  "firstPage": true,
  "sort": [
    {
      "direction": "ASC",
      "property": "NAME",
      "ascending": true
    }
  ],
  "totalElements": 2,
  "numberOfElements": 2
}"""


# Real 410 body for a missing list (fact sheet 8.4).
MISSING_LIST = '{"errorCode": "410", "appErrorCode": "", "errorMessage": "Fingerprint list with ID Blacklist2 do not exist"}'

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def seed_server(groups_body: str = SEED_GROUPS) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/sepm/api/v1/version":
            return httpx.Response(200, text=SEED_VERSION, headers={"content-type": "application/json"})
        if path == "/sepm/api/v1/identity/authenticate":
            return httpx.Response(200, text=SEED_AUTHENTICATE, headers={"content-type": "application/json"})
        assert request.headers["authorization"] == "Bearer c34692c5-201d-4d94-b0f8-61ed03383337"
        if path == "/sepm/api/v1/groups":
            return httpx.Response(200, text=groups_body, headers={"content-type": "application/json"})
        if path == "/sepm/api/v1/policy-objects/fingerprints":
            if request.url.params.get("name") == "Whitelist":
                return httpx.Response(200, text=SEED_FINGERPRINTS, headers={"content-type": "application/json"})
            return httpx.Response(410, text=MISSING_LIST, headers={"content-type": "application/json"})
        return httpx.Response(404)

    return httpx.MockTransport(handle), seen


def client_for(transport: httpx.MockTransport) -> SepmClient:
    connection = Connection(name="seed", vendor="sepm", url="https://sepm.example:8446", username="admin")
    return SepmClient(connection, "password", transport=transport, clock=lambda: NOW)


async def test_seed_version_parses() -> None:
    transport, _ = seed_server()
    client = client_for(transport)
    info = await client.probe()
    assert (info.product, info.version, info.api_version) == ("SEPM", "14.0.1904.0000", "1.0.0")


async def test_seed_authenticate_gives_the_token_used_on_later_calls() -> None:
    transport, seen = seed_server()
    client = client_for(transport)
    await client.check_login()
    login = json.loads(seen[0].content)
    assert login == {"username": "admin", "password": "password", "domain": ""}
    groups = await client.groups()
    assert seen[-1].headers["authorization"].endswith("c34692c5-201d-4d94-b0f8-61ed03383337")
    assert len(groups) == 2


@pytest.mark.parametrize("body", [SEED_GROUPS, SEED_GROUPS.rstrip()[:-1].rstrip() + "," + SEED_GROUPS_PAGE_TAIL])
async def test_seed_groups_build_a_tree_from_full_path_names(body: str) -> None:
    json.loads(body)  # both shapes of the example are valid JSON
    transport, _ = seed_server(body)
    groups = await client_for(transport).groups()
    by_name = {group.name: group for group in groups}
    assert [group.path_text for group in groups] == ["My Company", "My Company\\Default Group"]
    assert by_name["Default Group"].parent_id == "4541012E0A931BA7085259C3220013FB"
    assert by_name["My Company"].parent_id is None
    assert by_name["Default Group"].device_count == 1


async def test_seed_fingerprint_list_parses() -> None:
    transport, _ = seed_server()
    listing = await client_for(transport).fingerprint_list("Whitelist")
    assert listing.id == "20F543E30ADA144447A5FAAA370633DF"
    assert listing.name == "Whitelist"
    assert listing.hash_type is None and listing.source is None
    assert len(listing.hashes) == 11
    assert listing.hashes[0] == "1F1DB67B07175194CE17ACAADC1B6AF5"
    assert listing.group_ids == ()


async def test_missing_fingerprint_list_is_said_in_words() -> None:
    transport, _ = seed_server()
    with pytest.raises(NotFoundError) as caught:
        await client_for(transport).fingerprint_list("Blacklist2")
    assert "do not exist" in str(caught.value)
    assert caught.value.status == 410
