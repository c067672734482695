"""The example payloads of the WithSecure Elements API getting-started guide (seed 004_58518813d11aec9c.txt),
verbatim, served to the real client through httpx's mock transport; and the client's requests compared with
the guide's example requests. The token answer, which the fuzz tests also use, is in helpers.py.

Two of the guide's examples are not JSON as printed: the whoami answer lacks the opening quote of
`organizationId`, and the organizations page has a bare `items` key and one `}` too many. They are kept
verbatim here with the smallest repair that makes them JSON; the client parses the repaired form, and turns
the verbatim form into a `BadResponseError` rather than guessing (a real server sends JSON).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest

from helpers import SEED_TOKEN
from tui.models import Connection, DeviceQuery
from tui.vendors.base import BadResponseError, rfc3339
from tui.vendors.elements import ElementsClient

SEED_WHOAMI = """{"clientId":"fusion_aae404cb18404fabcede", organizationId":"99999f73-1ee1-414f-b7bb-10a53242759e"}"""

SEED_ORGANIZATIONS = """{
items: [
{
"id": "66787bfd-3fec-4355-955b-790b53ee0199",
"name": "Example company 1"
},
{
"id": "6827ac27-67b3-45c5-bdd3-69660e8272a8",
"name": "Example company 2"
},
{
"id": "30ec2ab5-7d4b-458c-bd66-ed099fe42398",
"name": "Example company 3"
}
}],
"nextAnchor": "anchor-to-next-page"
}"""

SEED_TIMESTAMPS = {
    "2022-11-05T15:08:59Z": datetime(2022, 11, 5, 15, 8, 59, tzinfo=UTC),
    "2022-11-05T07:08:59-08:00": datetime(2022, 11, 5, 15, 8, 59, tzinfo=UTC),
    "2022-11-05T07:17:59+02:00": datetime(2022, 11, 5, 5, 17, 59, tzinfo=UTC),
}

WHOAMI = SEED_WHOAMI.replace(' organizationId"', ' "organizationId"')
ORGANIZATIONS = SEED_ORGANIZATIONS.replace("items:", '"items":').replace("}\n}],", "}\n],")

# The guide shows these requests; the values are the guide's.
PARTNER_ID = "99999f73-1ee1-414f-b7bb-10a53242759e"
COMPANY_ID = "e4bd56b0-90b4-4878-962f-903ea862a977"
SECOND_ORGANIZATIONS_PAGE = json.dumps({"items": [
    {"id": PARTNER_ID, "name": "Example partner"},
    {"id": COMPANY_ID, "name": "Example company 4"},
]})
CLIENT_ID = "fusion_aae404cb18404fabcede"
SECRET = "seed-client-secret"
NOW = datetime(2023, 5, 1, 12, 0, tzinfo=UTC)
JSON = {"content-type": "application/json"}


def seed_server(whoami: str = WHOAMI, organizations: tuple[str, ...] = (ORGANIZATIONS, SECOND_ORGANIZATIONS_PAGE)):
    """A mock Elements API answering with the seed payloads; returns the transport and the requests seen."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path, query = request.url.path, parse_qs(request.url.query.decode())
        if path == "/as/token.oauth2":
            return httpx.Response(200, content=SEED_TOKEN.encode(), headers=JSON)
        if path == "/whoami/v1/whoami":
            return httpx.Response(200, content=whoami.encode(), headers=JSON)
        if path == "/organizations/v1/organizations":
            page = organizations[1] if query.get("anchor") == ["anchor-to-next-page"] else organizations[0]
            return httpx.Response(200, content=page.encode(), headers=JSON)
        if path == "/devices/v1/devices":
            return httpx.Response(200, json={"items": []})
        return httpx.Response(404, json={"code": 404, "message": "Not found"})

    return httpx.MockTransport(handle), seen


def client_for(transport: httpx.MockTransport, *, read_only: bool = True, clock=lambda: NOW) -> ElementsClient:
    connection = Connection(name="seed", vendor="elements", url="https://api.connect.withsecure.com",
                            username=CLIENT_ID, read_only=read_only)
    return ElementsClient(connection, SECRET, transport=transport, clock=clock)


def test_only_the_two_misprinted_examples_need_their_repair() -> None:
    json.loads(SEED_TOKEN)
    for verbatim, repaired in ((SEED_WHOAMI, WHOAMI), (SEED_ORGANIZATIONS, ORGANIZATIONS)):
        with pytest.raises(ValueError):
            json.loads(verbatim)
        json.loads(repaired)


async def test_seed_token_request_and_answer() -> None:
    """The token request has the guide's shape, and the seed's token is the one sent afterwards."""
    transport, seen = seed_server()
    client = client_for(transport)

    await client.check_login()

    token_request = seen[0]
    assert (token_request.method, token_request.url.path) == ("POST", "/as/token.oauth2")
    expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {expected}"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_request.headers["user-agent"]
    assert parse_qs(token_request.content.decode()) == {"grant_type": ["client_credentials"],
                                                         "scope": ["connect.api.read"]}
    assert seen[1].url.path == "/whoami/v1/whoami"
    assert seen[1].headers["authorization"] == "Bearer FdZTq11111116v67lSOx7vyFM2ssnIha"


async def test_seed_token_lifetime_is_honoured_with_a_margin() -> None:
    """expires_in 1797: the token is reused for 1797 s less a minute, then fetched again."""
    moment = [NOW]
    transport, seen = seed_server()
    client = client_for(transport, clock=lambda: moment[0])
    await client.check_login()

    moment[0] = NOW + timedelta(seconds=1797 - 61)
    await client.groups()
    assert [request.url.path for request in seen].count("/as/token.oauth2") == 1

    moment[0] = NOW + timedelta(seconds=1797 - 59)
    await client.groups()
    assert [request.url.path for request in seen].count("/as/token.oauth2") == 2


async def test_a_writable_connection_asks_for_the_write_scope_too() -> None:
    transport, seen = seed_server()

    await client_for(transport, read_only=False).check_login()

    assert parse_qs(seen[0].content.decode())["scope"] == ["connect.api.read connect.api.write"]


async def test_seed_whoami_parses_once_repaired() -> None:
    transport, _ = seed_server()

    assert await client_for(transport).whoami() == {"clientId": CLIENT_ID, "organizationId": PARTNER_ID}


async def test_seed_whoami_verbatim_is_a_bad_response_not_a_guess() -> None:
    transport, _ = seed_server(whoami=SEED_WHOAMI)

    with pytest.raises(BadResponseError) as caught:
        await client_for(transport).whoami()

    assert "malformed or truncated JSON" in str(caught.value)


async def test_seed_organizations_page_and_the_next_page_request() -> None:
    """The first page is the guide's; the client follows its nextAnchor exactly as the guide's next-page
    request does, and builds the partner tree."""
    transport, seen = seed_server()

    groups = await client_for(transport).groups()

    listing = [request for request in seen if request.url.path == "/organizations/v1/organizations"]
    assert "anchor" not in parse_qs(listing[0].url.query.decode())
    assert parse_qs(listing[1].url.query.decode()) == {"anchor": ["anchor-to-next-page"], "limit": ["200"]}
    assert [group.path for group in groups] == [
        ("Example partner",),
        ("Example partner", "Example company 1"),
        ("Example partner", "Example company 2"),
        ("Example partner", "Example company 3"),
        ("Example partner", "Example company 4"),
    ]
    assert groups[1].id == "66787bfd-3fec-4355-955b-790b53ee0199"
    assert {group.parent_id for group in groups[1:]} == {PARTNER_ID}


async def test_seed_organizations_alone_make_root_companies() -> None:
    """Without the partner's own record in the listing, the companies stand alone: no invented root."""
    transport, _ = seed_server(organizations=(ORGANIZATIONS, json.dumps({"items": []})))

    groups = await client_for(transport).groups()

    assert [group.path for group in groups] == [("Example company 1",), ("Example company 2",),
                                                ("Example company 3",)]
    assert {group.parent_id for group in groups} == {None}


async def test_seed_partner_request_for_critical_devices_of_a_company() -> None:
    """`GET /devices/v1/devices?organizationId=e4bd56b0-...&protectionStatusOverview=critical`, plus a limit."""
    transport, seen = seed_server()

    pages = [page async for page in client_for(transport).devices(DeviceQuery(critical=True, group_id=COMPANY_ID))]

    devices_requests = [request for request in seen if request.url.path == "/devices/v1/devices"]
    assert [parse_qs(request.url.query.decode()) for request in devices_requests] == [
        {"organizationId": [COMPANY_ID], "protectionStatusOverview": ["critical"], "limit": ["200"]}]
    assert [(page.devices, page.loaded, page.total) for page in pages] == [([], 0, None)]


async def test_seed_company_request_for_devices_missing_critical_updates() -> None:
    """Company credentials ask for their own devices without organizationId, as the guide does."""
    own = json.dumps({"items": [{"id": PARTNER_ID, "name": "Example company"}]})
    transport, seen = seed_server(organizations=(own,))

    async for _ in client_for(transport).devices(DeviceQuery(missing_patch=True)):
        pass

    devices_requests = [request for request in seen if request.url.path == "/devices/v1/devices"]
    assert [parse_qs(request.url.query.decode()) for request in devices_requests] == [
        {"patchOverallState": ["missingCriticalUpdates"], "limit": ["200"]}]


@pytest.mark.parametrize("text", list(SEED_TIMESTAMPS))
def test_seed_timestamps_parse_to_utc(text: str) -> None:
    assert rfc3339(text) == SEED_TIMESTAMPS[text]
    assert rfc3339(text).utcoffset() == timedelta(0)
