"""Symantec Endpoint Protection Manager 14 (REST API v1 on port 8446).

Authentication: `POST /identity/authenticate` returns a bearer `token` valid `tokenExpiration` seconds.
The token is reused until shortly before it expires, and fetched again once when a call answers 401
(then the call is replayed once; a second 401 is a real authentication failure).

Groups come from `/groups` (paged until `lastPage`); the tree is built from `fullPathName`, whose levels
are separated by backslashes. A computer's group is found by `group.id`, because real servers put the
full path in `group.name` and leave `group.fullPathName` null.

Health of a computer (`Device.health`), first match wins:

- critical: `infected == 1`; Auto-Protect (`apOnOff`) or the AV engine (`avEngineOnOff`) off (0) or
  malfunctioning (4); virus definitions (`avDefsetVersion`, yyMMddRRR) older than 30 days.
- warning: definitions older than 7 days; Auto-Protect disabled by policy (3); firewall, tamper
  protection or SONAR (`bashStatus`) off or malfunctioning; a reboot required; the agent running below
  its deployment target version.
- ok: protection state reported and none of the above.
- unknown: neither Auto-Protect state (127 = not reported) nor definitions are known.

Missing critical patches (`Device.missing_critical_patches`): true when the definitions are older than
7 days or the running agent is below `deploymentTargetVersion`; false when at least one of the two is
known and fine; null when neither is reported (14.0 and 14.2 RU1 send no `avDefsetVersion`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

import httpx
import msgspec

from tui.hashes import MD5, SHA256, FileHash, HashError, parse_hash, parse_hashes
from tui.models import (
    PRODUCTS,
    Command,
    CommandRow,
    CommandStatus,
    Device,
    DevicePage,
    DeviceQuery,
    EocMatch,
    Event,
    EventPage,
    EventWindow,
    FileDetails,
    FingerprintList,
    Group,
    Health,
    RawPage,
    ServerInfo,
    Severity,
)
from tui.respond import ActionResult
from tui.vendors.base import (
    AuthenticationError,
    BadResponseError,
    BearerTokenClient,
    Int64,
    NotAvailableError,
    NotFoundError,
    PagingGuard,
    VendorError,
    epoch_ms,
    epoch_or_rfc3339,
    loose_items,
    ordered_pages,
    requested_action,
    respond_in_calls,
    rfc3339,
    token_lifetime,
)
from tui.vendors.html_text import html_to_text, one_line

API = "/sepm/api/v1"
GROUP_PAGE_SIZE = 500
COMPUTER_PAGE_SIZE = 500
STALE_DEFS_DAYS = 7
CRITICAL_DEFS_DAYS = 30

_OFF, _ON, _POLICY_OFF, _MALFUNCTION = 0, 1, 3, 4
_BROKEN = {_OFF: "off", _MALFUNCTION: "malfunctioning"}
_ONLINE: dict[int | None, bool] = {1: True, 0: False}
R = TypeVar("R")


class GroupRef(msgspec.Struct, gc=False):
    """A computer's `group`, the fields the mapping reads."""

    id: str | None = None
    name: str | None = None
    fullPathName: str | None = None  # the console's names: the typed decode matches on them


class Computer(msgspec.Struct, gc=False):
    """A `/computers` item, only the fields `computer_to_device` reads, typed as a clean page sends them. One of
    another shape comes from `loose_computer`, unchecked: the mapping reads every field defensively."""

    uniqueId: str | None = None
    id: str | None = None
    hardwareKey: str | None = None
    computerName: str | None = None
    osName: str | None = None
    osname: str | None = None
    operatingSystem: str | None = None
    ipAddresses: list[str] | None = None
    group: GroupRef | None = None
    onlineStatus: Int64 | None = None
    lastUpdateTime: Int64 | None = None
    logonUserName: str | None = None
    infected: Int64 | None = None
    apOnOff: Int64 | None = None
    avEngineOnOff: Int64 | None = None
    firewallOnOff: Int64 | None = None
    tamperOnOff: Int64 | None = None
    bashStatus: Int64 | None = None
    rebootRequired: Int64 | None = None
    avDefsetVersion: str | None = None
    deploymentRunningVersion: str | None = None
    agentVersion: str | None = None
    deploymentTargetVersion: str | None = None


class SepmPage(msgspec.Struct, Generic[R]):
    """A SEPM page object: its records and what paging reads."""

    content: list[R]
    totalElements: Int64 | None = None
    totalPages: Int64 | None = None
    lastPage: bool | None = None


_COMPUTER_PAGES = msgspec.json.Decoder(SepmPage[Computer])


_STATUS_CODES = ("onlineStatus", "infected", "apOnOff", "avEngineOnOff", "firewallOnOff", "tamperOnOff", "bashStatus",
                 "rebootRequired")


def loose_computer(record: dict[str, Any]) -> Computer:
    """A computer decoded any other way, its fields as they came (see `BearerTokenClient.parse_typed_page`) but
    its status codes, which are integers or None (`_code`) as a typed page has them."""
    computer = Computer(**{name: record.get(name) for name in Computer.__struct_fields__})
    for name in _STATUS_CODES:
        setattr(computer, name, _code(getattr(computer, name)))
    group = computer.group
    computer.group = GroupRef(**{name: group.get(name) for name in GroupRef.__struct_fields__}) \
        if isinstance(group, dict) else None
    return computer


def loose_page(page: Any, record: Callable[[dict[str, Any]], Any] = lambda item: item) -> SepmPage[Any] | None:
    """A page decoded any other way, its objects made `record`s (other items stay, for the mapping to skip);
    None when it is no page object."""
    items = loose_items(page, "content", record)
    return None if items is None else SepmPage(items, page.get("totalElements"), page.get("totalPages"),
                                               page.get("lastPage"))


class SepmClient(BearerTokenClient):
    vendor = "sepm"
    product = PRODUCTS[vendor]

    _groups_by_id: dict[str, Group] | None = None

    def error_message(self, payload: Any) -> str | None:
        if isinstance(payload, dict):
            return payload.get("errorMessage") or payload.get("message") or payload.get("error_description")
        return None

    async def probe(self) -> ServerInfo:
        body = await self.get_json(f"{API}/version")  # retried like every read: the first call of an open
        if not isinstance(body, dict) or "version" not in body:
            raise BadResponseError(f"{self._where()} answered /version without a version; is this a SEPM?")
        return ServerInfo(self.product, str(body["version"]), str(body.get("API_VERSION", "")))

    async def fetch_token(self) -> tuple[str, float]:
        body = await self.request_json(
            "POST",
            f"{API}/identity/authenticate",
            json={
                "username": self.connection.username,
                "password": self._secret or "",
                "domain": self.connection.domain,
            },
        )
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponseError(f"{self._where()} accepted the login but returned no token.")
        return token, token_lifetime(body.get("tokenExpiration"))

    async def _page(self, path: str, index: int, page_size: int,
                    read: Callable[[httpx.Response], tuple[SepmPage[Any] | None, RawPage]]) -> tuple[SepmPage[Any], RawPage]:
        return self._read_page(path, await self._page_response(path, index, page_size), read)

    async def _page_response(self, path: str, index: int, page_size: int) -> httpx.Response:
        return await self.authed_response(path, {"pageIndex": index, "pageSize": page_size})

    def _read_page(self, path: str, response: httpx.Response,
                   read: Callable[[httpx.Response], tuple[SepmPage[Any] | None, RawPage]]) -> tuple[SepmPage[Any], RawPage]:
        page, raw = read(response)
        if page is None:
            raise BadResponseError(f"{self._where()} sent a page of {path} without `content`.")
        return page, raw

    def _read_groups(self, response: httpx.Response) -> tuple[SepmPage[Any] | None, RawPage]:
        page, raw = self.parse_page(response, "content")
        return loose_page(page), raw

    def _read_computers(self, response: httpx.Response) -> tuple[SepmPage[Any] | None, RawPage]:
        return self.parse_typed_page(response, _COMPUTER_PAGES, "content",
                                     lambda page: loose_page(page, loose_computer))

    async def _pages(self, path: str, page_size: int,
                     read: Callable[[httpx.Response], tuple[SepmPage[Any] | None, RawPage]],
                     ) -> AsyncIterator[tuple[SepmPage[Any], RawPage]]:
        """Every page of a SEPM page object (`pageIndex` from 1), each `read` from its response.

        The first page tells `totalPages`; the rest are fetched `page_concurrency` at a time and yielded
        in order, each read when its turn comes rather than in its request's place (`ordered_pages`), so that
        reading one page does not hold up the next request. Without a usable `totalPages`, pages are read one by one until `lastPage`. Either way the
        listing stops at `totalElements`, and a page count the total cannot hold or a repeated page is a
        bad response (`PagingGuard`).
        """
        first, raw = await self._page(path, 1, page_size, read)
        total = first.totalElements
        guard = PagingGuard(self._where(), path, total if isinstance(total, int) and total >= 0 else None, page_size,
                            id_keys=("uniqueId", "id"))  # a computer's, a group's
        guard.check(first.content)
        yield first, raw
        if first.lastPage is not False or not first.content or guard.complete:
            return
        total_pages = first.totalPages
        if isinstance(total_pages, int) and total_pages > 1:
            fetch = lambda index: self._page_response(path, index, page_size)  # noqa: E731
            indexes = range(2, guard.pages_allowed(total_pages) + 1)
            # closed on the way out, so a page that fails to read cancels the requests still in flight at once
            async with contextlib.aclosing(ordered_pages(fetch, indexes, self.page_concurrency)) as responses:
                async for response in responses:
                    page, raw = self._read_page(path, response, read)
                    guard.check(page.content)
                    yield page, raw
                    if page.lastPage is not False or not page.content or guard.complete:
                        return
            return
        index = 1
        while True:
            index += 1
            page, raw = await self._page(path, index, page_size, read)
            guard.check(page.content)
            yield page, raw
            if page.lastPage is not False or not page.content or guard.complete:
                return

    async def groups(self) -> list[Group]:
        records: list[dict[str, Any]] = []
        async for page, _ in self._pages(f"{API}/groups", GROUP_PAGE_SIZE, self._read_groups):
            records.extend(item for item in page.content if isinstance(item, dict))
        groups = groups_from_records(records)
        self._groups_by_id = {group.id: group for group in groups}
        return groups

    async def devices(self, query: DeviceQuery = DeviceQuery()) -> AsyncIterator[DevicePage]:
        """All computers: SEPM's API filters neither health nor patch state, so `query` is left to the caller."""
        groups_by_id = self._groups_by_id if self._groups_by_id is not None else {}
        if not groups_by_id:
            groups_by_id = {group.id: group for group in await self.groups()}
        loaded = 0
        today = self.clock().date()
        async for page, raw in self._pages(f"{API}/computers", COMPUTER_PAGE_SIZE, self._read_computers):
            devices = [
                computer_to_device(item, self.connection.name, groups_by_id, today, raw, index)
                for index, item in enumerate(page.content)
                if isinstance(item, Computer)
            ]
            loaded += len(devices)
            total = page.totalElements
            yield DevicePage(devices, loaded, total if isinstance(total, int) else None)

    async def fingerprint_list(self, name: str) -> FingerprintList:
        """A fingerprint list by name (`GET ?name=`); a missing list (410) is a NotFoundError that says so."""
        try:
            body = await self.authed_get(f"{API}/policy-objects/fingerprints", {"name": name})
        except NotFoundError as error:
            raise self._missing(error, f"There is no fingerprint list named {name!r}", _LIST_HINT) from None
        return fingerprint_list_from_record(body)

    # --- fingerprint lists and hash actions (../shared/vendor-apis/sepm.md sections 8, 9 and 12) -------------

    async def fingerprint_list_by_id(self, list_id: str) -> FingerprintList:
        """A fingerprint list by id (`GET /policy-objects/fingerprints/{id}`); 410 when it was deleted."""
        path = f"{API}/policy-objects/fingerprints/{_path_id(list_id, 'fingerprint list id')}"
        try:
            body = await self.authed_get(path)
        except NotFoundError as error:
            raise self._missing(error, f"There is no fingerprint list with id {list_id} (deleted?)", None) from None
        return fingerprint_list_from_record(body)

    async def create_fingerprint_list(
        self, name: str, hashes: Iterable[str], *, description: str = "", hash_type: str | None = None
    ) -> FingerprintList:
        """Create a list (`POST /policy-objects/fingerprints`) and return it with its new id.

        One hash type per list: `hash_type` ("MD5" or "SHA256") or, when None, the type of the first hash.
        Raises `HashError` (nothing sent) for a hash that is not an MD5 or SHA-256 or not of the list's type,
        `ConflictError` (409) when a list of that name exists, `WriteRefusedError` on a read-only connection.
        """
        self.ensure_writable(f"create fingerprint list {name.strip()!r}")  # before judging the input
        name = _list_name(name)
        kind, values = _list_hashes(hashes, hash_type)
        body = {"name": name, "description": description, "hashType": kind, "data": list(values)}
        response = await self.authed_write(
            "POST", f"{API}/policy-objects/fingerprints", action=f"create fingerprint list {name!r}",
            explain={409: "a fingerprint list with that name already exists; open it by name or choose another name.",
                     400: "it found the name, the hash type or a hash invalid."},
            json=body, headers=_JSON,
        )
        created = self.parse_json(response)
        new_id = created.get("id") if isinstance(created, dict) else None
        if not isinstance(new_id, str) or not new_id:
            raise BadResponseError(f"{self._where()} created fingerprint list {name!r} but sent no id back.")
        return FingerprintList(id=new_id, name=name, hash_type=kind, source="WEBSERVICE", description=description,
                               hashes=values, group_ids=())

    async def update_fingerprint_list(
        self,
        current: FingerprintList,
        hashes: Iterable[str],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> FingerprintList:
        """Replace the whole list `current` (`POST /policy-objects/fingerprints/{id}`) with `hashes`.

        SEPM has no "add one hash": the list sent is the list kept, so pass every hash that should remain
        (show `tui.hashes.diff_hashes(current.hashes, hashes)` first). SEPM answers with an empty body:
        the result is `current` with the new name, description, type and hashes (its group assignments are
        as `current` had them). 410 (deleted meanwhile) is a NotFoundError, 409 (the new name is taken) a
        ConflictError.
        """
        self.ensure_writable(f"update fingerprint list {current.name!r}")
        new_name = _list_name(name if name is not None else current.name)
        kind, values = _list_hashes(hashes, current.hash_type)
        new_description = current.description if description is None else description
        body = {"name": new_name, "description": new_description, "hashType": kind, "data": list(values)}
        await self.authed_write(
            "POST", f"{API}/policy-objects/fingerprints/{_path_id(current.id, 'fingerprint list id')}",
            action=f"update fingerprint list {current.name!r}",
            explain={410: "the list no longer exists (deleted meanwhile?).",
                     409: "another fingerprint list already has that name.",
                     400: "it found the name, the hash type or a hash invalid."},
            json=body, headers=_JSON,
        )
        return replace(current, name=new_name, description=new_description, hash_type=kind, hashes=values)

    async def delete_fingerprint_list(self, list_id: str, *, name: str = "") -> None:
        """Delete a list (`DELETE /policy-objects/fingerprints/{id}`); SEPM also removes it from its groups."""
        label = f"fingerprint list {name!r}" if name else f"fingerprint list {list_id}"
        self.ensure_writable(f"delete {label}")
        await self.authed_write(
            "DELETE", f"{API}/policy-objects/fingerprints/{_path_id(list_id, 'fingerprint list id')}",
            action=f"delete {label}", explain={410: "the list no longer exists (deleted already?)."}, headers=_JSON,
        )

    async def assign_fingerprint_list(
        self, list_id: str, group_id: str, *, list_name: str = "", group_path: str = ""
    ) -> None:
        """Assign a list to a group for system lockdown (`PUT /groups/{gid}/system-lockdown/fingerprints/{fid}`).

        SEPM answers 400 when the list does not exist (BadRequestError), 410 when the group does not,
        422 when system lockdown is disabled for the group or the list is already assigned, 423 when locked.
        """
        self.ensure_writable("assign a fingerprint list to a group for system lockdown")
        group_id = _path_id(group_id, "group id")
        list_id = _path_id(list_id, "fingerprint list id")
        if not group_path and self._groups_by_id and group_id in self._groups_by_id:
            group_path = self._groups_by_id[group_id].path_text
        what = f"fingerprint list {list_name!r}" if list_name else f"fingerprint list {list_id}"
        where = f"group {group_path!r}" if group_path else f"group {group_id}"
        await self.authed_write(
            "PUT", f"{API}/groups/{group_id}/system-lockdown/fingerprints/{list_id}",
            action=f"assign {what} to {where} for system lockdown",
            explain={400: "the fingerprint list does not exist (SEPM answers 400 for a missing list).",
                     409: "it conflicts with the group's system lockdown settings.",
                     410: "the group does not exist.",
                     422: "system lockdown is disabled for this group, or the list is already assigned to it.",
                     423: "the group's policy is locked, probably by another administrator's edit."},
            # The vendor's own example (seed 000) sends both ids in a JSON body too; the path is what counts.
            json={"group_id": group_id, "fingerprint_id": list_id}, headers=_JSON,
        )

    async def eoc_scan(
        self,
        hashes: Iterable[str],
        *,
        computer_ids: Sequence[str] = (),
        group_ids: Sequence[str] = (),
        remediate: bool = False,
        full_scan: bool = True,
        description: str = "",
    ) -> list[Command]:
        """Queue an Evidence of Compromise scan for `hashes` (`POST /command-queue/eoc`).

        Hashes may be MD5, SHA-1 (see `tui.hashes.SHA1_NOTE`) or SHA-256. Matching files are deleted only
        when `remediate` is true (`<RemediationAction>REMEDIATE</RemediationAction>`). Returns one command
        per kind of target SEPM queued (computers, groups): poll each with `command_status`.
        """
        self.ensure_writable("queue an Evidence of Compromise scan")
        searched = parse_hashes(hashes, allow_sha1=True)
        if not searched:
            raise HashError("No hash given: an Evidence of Compromise scan needs at least one hash.")
        computers = _path_ids(computer_ids, "computer id")
        groups = _path_ids(group_ids, "group id")
        if not computers and not groups:
            raise ValueError("Choose at least one computer or group to scan.")
        targets = _targets(computers, groups)
        action = (f"queue an Evidence of Compromise scan for {_count(len(searched), 'hash', 'hashes')} on {targets}"
                  + (" that deletes the matching files" if remediate else ""))
        body = eoc_xml(searched, remediate=remediate, full_scan=full_scan, description=description,
                       when=self.clock())
        response = await self.authed_write(
            "POST", f"{API}/command-queue/eoc", action=action,
            explain={400: "it found the scan request invalid.", 410: "a computer or group it names does not exist."},
            params=_target_params(computers, groups), content=body.encode("utf-8"), headers=_JSON,
        )
        summary = (f"Evidence of Compromise scan for {_count(len(searched), 'hash', 'hashes')}"
                   + (", deleting matches" if remediate else ""))
        return _commands(self.parse_json(response), "eoc", summary, computers, groups, self._where())

    async def fetch_file(
        self, computer_ids: Sequence[str], file_path: str, file_hash: str, *, source: str = "FILESYSTEM"
    ) -> Command:
        """Ask computers to upload a file to SEPM (`POST /command-queue/files`).

        `file_path` is the file's full path on the computer, `file_hash` its MD5 or SHA-256, `source` one of
        FILESYSTEM (the default), QUARANTINE or BOTH. When the command completes, a row's `binary_file_id`
        names the uploaded file: see `file_details`.
        """
        self.ensure_writable("queue a file fetch")
        computers = _path_ids(computer_ids, "computer id")
        if not computers:
            raise ValueError("Choose at least one computer to fetch the file from.")
        path = file_path.strip()
        if not path:
            raise ValueError("Give the file's full path on the computer.")
        wanted = parse_hash(file_hash)
        source = source.upper()
        if source not in FILE_SOURCES:
            raise ValueError(f"The file source must be one of {', '.join(FILE_SOURCES)}, not {source!r}.")
        params = {"computer_ids": ",".join(computers), "file_path": path,
                  ("md5" if wanted.type == MD5 else "sha256"): wanted.value, "source": source}
        response = await self.authed_write(
            "POST", f"{API}/command-queue/files",
            action=f"queue a fetch of {path} from {_targets(computers, ())}",
            explain={400: "it found the path, the hash or the source invalid.", 410: "the computer does not exist."},
            params=params, headers=_JSON,
        )
        commands = _commands(self.parse_json(response), "fetch", f"fetch {path}", computers, (), self._where())
        return commands[0]

    async def command_status(self, command_id: str) -> CommandStatus:
        """Every computer's row of a command (`GET /command-queue/{id}`, all pages), states in words."""
        path = f"{API}/command-queue/{_path_id(command_id, 'command id')}"
        rows: list[CommandRow] = []
        index = 0
        while True:
            index += 1
            try:
                page = await self.authed_get(path, {"pageIndex": index, "pageSize": COMMAND_PAGE_SIZE})
            except NotFoundError as error:
                raise self._missing(error, f"There is no command {command_id}", None) from None
            if not isinstance(page, dict) or not isinstance(page.get("content"), list):
                raise BadResponseError(f"{self._where()} sent a status of command {command_id} without `content`.")
            rows.extend(command_row(item) for item in page["content"] if isinstance(item, dict))
            total_pages = page.get("totalPages")
            if page.get("lastPage") is not False or not page["content"] or index >= MAX_COMMAND_PAGES or (
                isinstance(total_pages, int) and index >= total_pages
            ):
                return CommandStatus(command_id, tuple(rows))

    async def follow_command(self, command_id: str, *, interval: float = 5.0) -> AsyncIterator[CommandStatus]:
        """Poll `command_status` every `interval` seconds, yielding each status, until every row is final."""
        while True:
            status = await self.command_status(command_id)
            yield status
            if status.done:
                return
            await self.sleep(interval)

    async def cancel_command(self, command_id: str) -> Command:
        """Cancel a command on the computers that have not finished it (`POST /command-queue/{id}/cancel`).

        SEPM queues the cancellation as a command of its own, returned here; the rows of the cancelled
        command turn "cancelled" once each computer hears of it.
        """
        self.ensure_writable(f"cancel command {command_id}")
        path = f"{API}/command-queue/{_path_id(command_id, 'command id')}/cancel"
        response = await self.authed_write(
            "POST", path, action=f"cancel command {command_id}",
            explain={410: "there is no such command.", 422: "the command can no longer be cancelled."},
            headers=_JSON,
        )
        commands = _commands(self.parse_json(response), "cancel", f"cancel {command_id}", (), (), self._where())
        return commands[0]

    def offered_actions(self) -> tuple[str, ...]:
        return tuple(RESPONSE_COMMANDS)

    async def respond(self, action: str, devices: Sequence[Device], message: str = "") -> list[ActionResult]:
        """Queue the command of `action` on the computers (`POST /command-queue/quarantine[?undo=true]`,
        `activescan`, `fullscan`, `updatecontent`; fact sheet 9.2), `COMMAND_TARGETS_MAX` computers a command.
        SEPM answers per call, not per computer: each computer's fate shows in the command's status rows
        (`follow_response`)."""
        spec = requested_action(self, action, message, len(devices))
        path, extra = RESPONSE_COMMANDS[action]
        for device in devices:
            _path_id(device.id, "computer id")  # every id checked before the first call is sent
        what = f"{spec.verb} {_count(len(devices), 'computer', 'computers')}"
        self.ensure_writable(what)

        async def send(chunk: Sequence[Device]) -> list[ActionResult]:
            computers = [device.id for device in chunk]
            response = await self.authed_write(
                "POST", f"{API}/command-queue/{path}", action=what,
                explain={400: "it found the command invalid.", 410: "a computer it names does not exist."},
                params={**_target_params(computers, ()), **extra}, headers=_JSON,
            )
            command = _commands(self.parse_json(response), action, spec.title, computers, (), self._where())[0]
            return [ActionResult(device.id, device.name, True, reference=command.id, progress="queued")
                    for device in chunk]

        return await respond_in_calls(devices, COMMAND_TARGETS_MAX, send)

    async def follow_response(self, action: str, results: Sequence[ActionResult],
                              *, interval: float = 5.0) -> AsyncIterator[list[ActionResult]]:
        """Each command's status (`command_status`) every `interval` seconds, each computer's row in words,
        until every row is final or `FOLLOW_ROUNDS` polls (a computer that stays offline never answers)."""
        current = list(results)
        for _ in range(FOLLOW_ROUNDS):
            pending = {result.reference for result in current if not result.final}
            if not pending:
                return
            rows: dict[tuple[str, str], CommandRow] = {}
            for command_id in sorted(pending):
                status = await self.command_status(command_id)
                rows.update(((command_id, row.computer_id), row) for row in status.rows)
            for index, result in enumerate(current):
                row = rows.get((result.reference, result.device_id))
                if row is not None and not result.final:
                    words = (DONE_WORDS.get(action, row.state) if row.state_id == COMPLETED and row.sub_state in (
                        "", "success") else row.state if not row.sub_state else f"{row.state}: {row.sub_state}")
                    current[index] = replace(result, progress=words, final=row.final,
                                             succeeded=row.state_id == COMPLETED if row.final else None)
            yield list(current)
            if all(result.final for result in current):
                return
            await self.sleep(interval)

    async def file_details(self, file_id: str) -> FileDetails:
        """Size and checksum of a file a computer uploaded (`GET /command-queue/file/{id}/details`)."""
        path = f"{API}/command-queue/file/{_path_id(file_id, 'file id')}/details"
        try:
            body = await self.authed_get(path)
        except NotFoundError as error:
            raise self._missing(error, f"There is no uploaded file {file_id}", None) from None
        if not isinstance(body, dict):
            raise BadResponseError(f"{self._where()} sent no details for file {file_id}.")
        size = body.get("fileSize")
        checksum = body.get("checksum")
        return FileDetails(id=str(body.get("id") or file_id), size=size if isinstance(size, int) else None,
                           checksum=checksum.upper() if isinstance(checksum, str) and checksum else None)

    def _missing(self, error: NotFoundError, sentence: str, hint: str | None) -> NotFoundError:
        """A 404/410 on a read, said in words: `sentence` ("There is no fingerprint list named 'X'")."""
        detail = error.message.partition(f"({error.status}):")[2].strip().rstrip(".")
        said = f' It said: "{detail}".' if detail else ""
        return NotFoundError(f"{sentence} on {self._where()} ({error.status}).{said}", status=error.status,
                             hint=hint)

    async def events(self, window: EventWindow) -> AsyncIterator[EventPage]:
        """The console's critical events, then its command history, each filtered to `window`, newest first.

        1. `GET /events/critical?includeAcknowledged=true`: one call, not paged, not sorted (`critical_event`).
        2. The command history where the console offers it: `GET /command-queue` lists the commands (not in
           the spec; PSSEPM reads it), then each command in the window gives a row per computer from
           `GET /command-queue/{id}` (`command_event`). A console without the listing, or an API user without
           the right to read it, yields a page with a note instead of failing.

        SEPM answers 401 both to a bad token and to a user without the right: a 401 from a call while a fresh
        login succeeds is `NotAvailableError` (scope "user") for critical events, a note for the history.
        The engine filter picks the source: "notification" (critical events) or "command" / a command type.
        """
        engine = (window.engine or "").casefold()
        if engine in ("", NOTIFICATION_ENGINE):
            yield await self._critical_events(window)
        if engine != NOTIFICATION_ENGINE:
            yield await self._command_history(window)

    async def acknowledge_event(self, event_id: str) -> None:
        """Acknowledge a critical event (`POST /events/acknowledge/{eventID}`): a write, so a read-only
        connection refuses it (`WriteRefusedError`, saying how to allow writes) and nothing is sent."""
        self.ensure_writable(f"acknowledge event {event_id}")
        if not _EVENT_ID.fullmatch(event_id or ""):
            raise BadResponseError(f"{event_id!r} is not a SEPM event id (32 hexadecimal digits).")
        await self.authed_write(
            "POST", f"{API}/events/acknowledge/{event_id}", action=f"acknowledge event {event_id}",
            explain={400: "the console does not know that event id.", 410: "there is no such event."},
            headers={"Content-Type": "application/json"},
        )

    async def _not_readable(self, what: str) -> NotAvailableError:
        """After a 401 on a read: log in afresh (raising if the credentials are bad), so the 401 meant rights."""
        await self._authenticate(seen=self._logins)
        return NotAvailableError(
            f"{what} is not available to this API user: {self._where()} refuses it (401) although the "
            "login works, so the administrator's role lacks the right.", scope="user", status=401,
        )

    async def _critical_events(self, window: EventWindow) -> EventPage:
        path = f"{API}/events/critical"
        try:
            response = await self.authed_response(path, {"includeAcknowledged": "true"})
        except AuthenticationError:
            raise await self._not_readable("The SEPM critical events list") from None
        body, raw = self.parse_page(response, "criticalEventsInfoList")
        items = body.get("criticalEventsInfoList") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise BadResponseError(f"{self._where()} sent critical events without `criticalEventsInfoList`.")
        events = [event for index, item in enumerate(items)
                  if (event := critical_event(item, self.connection.name, raw, index)) is not None]
        undated = sum(1 for item in items) - len(events)
        events = sorted((event for event in events if window.matches(event)), key=_newest_first)
        notes = (f"{undated} critical events without a readable time were left out.",) if undated else ()
        return EventPage(events, len(events), len(events), source=CRITICAL_EVENTS_SOURCE, notes=notes)

    async def _command_history(self, window: EventWindow) -> EventPage:
        def unavailable(note: str) -> EventPage:
            return EventPage([], 0, 0, source=COMMANDS_SOURCE, notes=(note,))

        try:
            commands, more = await self._command_list()
        except AuthenticationError:
            return unavailable((await self._not_readable("The SEPM command history")).message)
        except (NotFoundError, BadResponseError) as error:
            return unavailable(f"The SEPM command history is not available on this console ({error.message})")
        except VendorError as error:
            if error.status not in (400, 405, 500, 501):
                raise
            return unavailable(f"The SEPM command history is not available on this console ({error.message})")
        chosen = [command for command in commands if _command_in(command, window)]
        chosen.sort(key=lambda command: command[1] or _DISTANT_PAST, reverse=True)
        notes: list[str] = []
        if more or len(chosen) > MAX_HISTORY_COMMANDS:
            notes.append(f"Only the {min(len(chosen), MAX_HISTORY_COMMANDS)} newest commands listed by the console "
                         "were read; narrow the window to see older ones.")
        chosen = chosen[:MAX_HISTORY_COMMANDS]
        events: list[Event] = []
        fetch = lambda position: self._command_rows(_command_id(chosen[position][0]))  # noqa: E731
        async for (record, _), pages in _zip_async(chosen, ordered_pages(fetch, range(len(chosen)),
                                                                          self.page_concurrency)):
            for page, raw in pages:
                for index, row in enumerate(page["content"]):
                    event = command_event(row, record, self.connection.name, raw, index)
                    if event is not None and window.matches(event):
                        events.append(event)
        events.sort(key=_newest_first)
        return EventPage(events, len(events), len(events), source=COMMANDS_SOURCE, notes=tuple(notes))

    async def _command_list(self) -> tuple[list[tuple[dict[str, Any], datetime | None]], bool]:
        """The commands `GET /command-queue` lists, each with its time when it has one, and whether more
        pages were left unread."""
        commands: list[tuple[dict[str, Any], datetime | None]] = []
        for index in range(1, MAX_COMMAND_LIST_PAGES + 1):
            page = await self.authed_get(f"{API}/command-queue",
                                         {"pageIndex": index, "pageSize": COMMAND_LIST_PAGE_SIZE})
            if not isinstance(page, dict) or not isinstance(page.get("content"), list):
                raise BadResponseError(f"{self._where()} answered the command listing without `content`.")
            for item in page["content"]:
                if isinstance(item, dict) and _command_id(item):
                    commands.append((item, _command_time(item)))
            if page.get("lastPage") is not False or not page["content"]:
                return commands, False
        return commands, True

    async def _command_rows(self, command_id: str) -> list[tuple[dict[str, Any], RawPage]]:
        """Every status page of one command; a command the console no longer knows has none."""
        pages: list[tuple[dict[str, Any], RawPage]] = []
        for index in range(1, MAX_COMMAND_STATUS_PAGES + 1):
            try:
                response = await self.authed_response(
                    f"{API}/command-queue/{command_id}", {"pageIndex": index, "pageSize": COMMAND_LIST_PAGE_SIZE})
            except NotFoundError:
                return pages
            page, raw = self.parse_page(response, "content")
            if not isinstance(page, dict) or not isinstance(page.get("content"), list):
                raise BadResponseError(f"{self._where()} sent a status of command {command_id} without `content`.")
            pages.append((page, raw))
            if page.get("lastPage") is not False or not page["content"]:
                break
        return pages


def fingerprint_list_from_record(record: Any) -> FingerprintList:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise BadResponseError("The fingerprint list in the response has no id.")
    data = hashes if isinstance(hashes := record.get("data"), list) else []
    groups = ids if isinstance(ids := record.get("groupIds"), list) else []
    return FingerprintList(
        id=record["id"],
        name=str(record.get("name") or ""),
        hash_type=record.get("hashType") if isinstance(record.get("hashType"), str) else None,
        source=record.get("source") if isinstance(record.get("source"), str) else None,
        description=str(record.get("description") or ""),
        hashes=tuple(str(item).upper() for item in data),
        group_ids=tuple(str(item) for item in groups),
    )


def groups_from_records(records: list[dict[str, Any]]) -> list[Group]:
    """Groups from `/groups` items, parents linked through `fullPathName`, sorted by path."""
    groups: list[Group] = []
    for record in records:
        group_id = record.get("id")
        full_path = record.get("fullPathName") or record.get("name")
        if not isinstance(group_id, str) or not isinstance(full_path, str):
            continue
        path = tuple(part for part in full_path.split("\\") if part)
        count = record.get("numberOfPhysicalComputers")
        groups.append(
            Group(
                id=group_id,
                name=path[-1] if path else str(record.get("name", "")),
                path=path,
                device_count=count if isinstance(count, int) else None,
            )
        )
    by_path = {group.path: group for group in groups}
    for group in groups:
        parent = by_path.get(group.path[:-1])
        group.parent_id = parent.id if parent else None
    groups.sort(key=lambda group: [part.casefold() for part in group.path])
    return groups


def computer_to_device(
    record: Computer | dict[str, Any],
    connection: str,
    groups_by_id: dict[str, Group],
    today: date,
    raw: RawPage | None = None,
    index: int = 0,
) -> Device:
    """Map one `/computers` item onto a `Device`, deciding health and patch state (module docstring).

    The record is `raw`'s record number `index`; without a page, a record given as a dict is kept as it is.
    """
    if isinstance(record, dict):
        raw, index = (raw, index) if raw is not None else (RawPage.of([record]), 0)
        record = loose_computer(record)
    group_info = record.group
    group_id = group_info.id if group_info is not None else None
    group = groups_by_id.get(str(group_id))
    group_path = group.path_text if group else str(group_info.fullPathName or group_info.name or "") \
        if group_info is not None else ""
    health, reasons, missing = assess(record, today)
    addresses = record.ipAddresses
    return Device(
        vendor="sepm",
        connection=connection,
        id=str(record.uniqueId or record.hardwareKey or ""),
        name=str(record.computerName or ""),
        os=str(record.osName or record.osname or record.operatingSystem or "").strip(),
        ip_addresses=tuple(map(str, addresses)) if isinstance(addresses, list) else (),
        group_id=group.id if group else group_id if isinstance(group_id, str) else None,
        group=group_path,
        online=_ONLINE.get(record.onlineStatus),
        health=health,
        health_reasons=reasons,
        missing_critical_patches=missing,
        last_seen=epoch_ms(record.lastUpdateTime),
        user=str(record.logonUserName or ""),
        raw_page=raw if raw is not None else RawPage.of([msgspec.to_builtins(record)]),
        raw_index=index,
    )


def assess(record: Computer, today: date) -> tuple[Health, tuple[str, ...], bool | None]:
    """Health, the reasons for it, and the missing-patch state of one computer record."""
    state = (record.infected, record.apOnOff, record.avEngineOnOff, record.firewallOnOff, record.tamperOnOff,
             record.bashStatus, record.rebootRequired, record.avDefsetVersion,
             record.deploymentRunningVersion or record.agentVersion, record.deploymentTargetVersion, today)
    try:
        return _assess(*state)
    except TypeError:  # a field of another shape that JSON allows (a list, an object) is no cache key
        return _assess.__wrapped__(*state)


# A fleet shares a few hundred such states (the simulated one: 2,212 in 20,000 computers): decide each once.
@functools.lru_cache(maxsize=4096, typed=True)
def _assess(infected: Any, auto_protect: Any, av_engine: Any, firewall: Any, tamper: Any, sonar: Any, reboot: Any,
            definitions: Any, running_version: Any, target_version: Any,
            today: date) -> tuple[Health, tuple[str, ...], bool | None]:
    """`assess` of a computer's state fields, each as sent (typed: 1 and True are not one key)."""
    critical: list[str] = []
    warning: list[str] = []
    if infected == 1:
        critical.append("infected")
    for state, label in ((auto_protect, "Auto-Protect"), (av_engine, "AV engine")):
        if state in _BROKEN:
            critical.append(f"{label} {_BROKEN[state]}")
    if auto_protect == _POLICY_OFF:
        warning.append("Auto-Protect disabled by policy")
    for state, label in ((firewall, "firewall"), (tamper, "tamper protection"), (sonar, "SONAR")):
        if state in _BROKEN:
            warning.append(f"{label} {_BROKEN[state]}")
    if reboot == 1:
        warning.append("reboot required")

    defs_age = _definitions_age(str(definitions or ""), today)
    if defs_age is not None and defs_age > CRITICAL_DEFS_DAYS:
        critical.append(f"definitions {defs_age} days old")
    elif defs_age is not None and defs_age > STALE_DEFS_DAYS:
        warning.append(f"definitions {defs_age} days old")
    running = version_tuple(running_version)
    target = version_tuple(target_version)
    agent_behind = None if running is None or target is None else running < target
    if agent_behind:
        warning.append("agent below deployment target")

    if defs_age is None and agent_behind is None:
        missing = None
    else:
        missing = bool((defs_age is not None and defs_age > STALE_DEFS_DAYS) or agent_behind)

    if critical:
        return Health.CRITICAL, tuple(critical + warning), missing
    if warning:
        return Health.WARNING, tuple(warning), missing
    if auto_protect == _ON or defs_age is not None:
        return Health.OK, (), missing
    return Health.UNKNOWN, (), missing


def _code(value: Any) -> int | None:
    """A status code (`infected`, `apOnOff`, `onlineStatus` ...) as SEPM sends it, a JSON integer; any other shape
    reads as not reported, like an absent field: every field of a computer is optional."""
    return value if type(value) is int else None


def definitions_age_days(version: Any, today: date) -> int | None:
    """Age in days of an `avDefsetVersion` such as "240820021" (2024-08-20, revision 21)."""
    return _definitions_age(str(version or ""), today)


def version_tuple(value: Any) -> tuple[int, ...] | None:
    """"14.3.9717.7000" as (14, 3, 9717, 7000); None when absent or not dotted numbers."""
    return _version_tuple(str(value or "").strip())


# A fleet shares a handful of definition and agent versions: parse each once (page mapping is a hot path).
@functools.lru_cache(maxsize=4096)
def _definitions_age(text: str, today: date) -> int | None:
    if len(text) < 6 or not text[:6].isdigit():
        return None
    try:
        published = date(2000 + int(text[0:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        return None
    return max(0, (today - published).days)


@functools.lru_cache(maxsize=4096)
def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = text.split(".")
    if not all(part.isdigit() for part in parts):
        return None
    try:
        return tuple(int(part) for part in parts)
    except ValueError:  # digits int() does not read ("²"), or more of them than it converts
        return None


# --- fingerprint lists and the command queue: constants and pure helpers (issue 5) ------------------------

COMMAND_PAGE_SIZE = 500
RESPONSE_COMMANDS = {"quarantine": ("quarantine", {}), "unquarantine": ("quarantine", {"undo": "true"}),
                     "scan": ("activescan", {}), "fullscan": ("fullscan", {}), "update": ("updatecontent", {})}
"""Response actions (issue 18) and the command-queue call of each (fact sheet 9.2)."""
COMMAND_TARGETS_MAX = 100
"""Computers one response command names: the ids ride in the query string, and no source gives SEPM's limit,
so this bound (about 3,300 characters of ids) is ours, to stay clear of URL length limits."""
FOLLOW_ROUNDS = 120
DONE_WORDS = {"quarantine": "quarantined", "unquarantine": "out of quarantine"}
MAX_COMMAND_PAGES = 1000
"""A safety net: a status whose pages never say `lastPage` stops here instead of looping forever."""
FILE_SOURCE_WORDS = {"FILESYSTEM": "the file system", "QUARANTINE": "the quarantine", "BOTH": "both"}
"""Where SEPM can take a fetched file from, in the order a form offers them (the file system first)."""
FILE_SOURCES = tuple(FILE_SOURCE_WORDS)
"""Where `fetch_file` looks for the file on the computer (12.1 clients only use FILESYSTEM)."""
FINAL_STATES = frozenset({3, 4, 5, 6})
COMPLETED = 3
"""A computer's row of a command in one of these states will not change any more."""
# `stateId` and `subStateId` in words: COMMAND_STATES and COMMAND_SUB_STATES (KB 229117), with the events below.

_JSON = {"Content-Type": "application/json"}
"""Every SEPM call with a body (and, per the vendor's reference, every call) says JSON; the EOC scan's XML
body too, as the integrations that work against real servers send it: SEPM answers 500 without it."""
_LIST_HINT = "Names are matched as the console spells them; SEPM cannot list every fingerprint list."
_PATH_ID = re.compile(r"[A-Za-z0-9_-]+")
_NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DECLARATIONS = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _path_id(value: str, what: str) -> str:
    """An id that goes into a URL path: never empty (`//` answers 500) and never anything but an id."""
    text = str(value).strip()
    if not _PATH_ID.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid {what}." if text else f"The {what} is missing.")
    return text


def _path_ids(values: Sequence[str], what: str) -> list[str]:
    if isinstance(values, str):  # one id given as a string, not a list of its characters
        values = [values]
    return list(dict.fromkeys(_path_id(value, what) for value in values))


def _list_name(name: str) -> str:
    text = name.strip()
    if not text:
        raise ValueError("A fingerprint list needs a name.")
    return text


def _list_hashes(hashes: Iterable[str], hash_type: str | None) -> tuple[str, tuple[str, ...]]:
    """The type and the upper-case hashes of a list: one type per list, MD5 or SHA-256."""
    parsed = parse_hashes([hashes] if isinstance(hashes, str) else hashes)
    kind = (hash_type or "").upper().replace("-", "") or None
    if kind is not None and kind not in (MD5, SHA256):
        raise HashError(f"A fingerprint list holds MD5 or SHA-256 hashes, not {hash_type}.")
    if kind is None:
        if not parsed:
            raise HashError("An empty fingerprint list needs a hash type: MD5 or SHA-256.")
        kind = parsed[0].type
    for item in parsed:
        if item.type != kind:
            label = "MD5" if kind == MD5 else "SHA-256"
            raise HashError(f"A fingerprint list holds one hash type: this one holds {label}, "
                            f"but {item.value} is a {item.label}.")
    return kind, tuple(item.value for item in parsed)


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _targets(computers: Sequence[str], groups: Sequence[str]) -> str:
    parts = []
    if computers:
        parts.append(_count(len(computers), "computer", "computers"))
    if groups:
        parts.append(_count(len(groups), "group", "groups"))
    return " and ".join(parts)


def _target_params(computers: Sequence[str], groups: Sequence[str]) -> dict[str, str]:
    """Targets as SEPM's query parameters: several ids comma-joined in one parameter."""
    params = {}
    if computers:
        params["computer_ids"] = ",".join(computers)
    if groups:
        params["group_ids"] = ",".join(groups)
    return params


def _commands(
    body: Any, kind: str, description: str, computers: Sequence[str], groups: Sequence[str], where: str
) -> list[Command]:
    """The command ids in a queueing answer: `commandID_computer`, `commandID_group` or plain `commandID`."""
    if not isinstance(body, dict):
        raise BadResponseError(f"{where} queued the command but sent no command id back.")
    commands = []
    for key, value in body.items():
        if not key.startswith("commandID") or not isinstance(value, str) or not value:
            continue
        suffix = key[len("commandID"):].lstrip("_").lower()
        if suffix.startswith("computer"):
            target = "computers"
        elif suffix.startswith("group"):
            target = "groups"
        else:
            target = "computers" if computers else "groups" if groups else "command"
        commands.append(Command(id=value, kind=kind, target=target, description=description))
    if not commands:
        raise BadResponseError(f"{where} queued the command but sent no command id back.")
    commands.sort(key=lambda command: command.target != "computers")
    return commands


def _xml_text(text: str) -> str:
    """Text as XML 1.0 can hold it (escaping is the serializer's job; control characters are dropped)."""
    return _NOT_XML_CHARS.sub("", text)


def eoc_xml(
    hashes: Sequence[FileHash], *, remediate: bool, full_scan: bool = True, description: str = "",
    when: datetime, creator: str = "Endpoint Explorer",
) -> str:
    """The body of an Evidence of Compromise scan (Symantec article 164858's example, seed 001).

    Built with ElementTree, so text and attributes are escaped by the serializer, never pasted in.
    `<RemediationAction>REMEDIATE</RemediationAction>` is present only when `remediate` is true. Hashes
    are written in lower case, as the vendor's example and the captured integrations send them.
    """
    root = ElementTree.Element("EOC", {"creator": _xml_text(creator), "version": "1.1", "id": "1"})
    ElementTree.SubElement(root, "DataSource", {"name": "Third-Party Provider", "id": "1", "version": "1.0"})
    ElementTree.SubElement(root, "ScanType").text = "FULL_SCAN" if full_scan else "QUICK_SCAN"
    if remediate:
        ElementTree.SubElement(root, "RemediationAction").text = "REMEDIATE"
    hour = when.hour % 12 or 12
    threat = ElementTree.SubElement(root, "Threat", {
        "category": "Suspects", "type": "to_investigate", "severity": "Medium",
        "time": f"{when:%Y-%m-%d} {hour}:{when:%M:%S %p}",
    })
    ElementTree.SubElement(threat, "Description").text = _xml_text(description) or "Search by hash"
    ElementTree.SubElement(threat, "Attacker").text = ""
    activity = ElementTree.SubElement(root, "Activity")
    system = ElementTree.SubElement(activity, "OS", {"id": "1", "name": "", "version": "", "patch": ""})
    ElementTree.SubElement(system, "Process").text = ""
    files = ElementTree.SubElement(system, "Files")
    for item in hashes:
        entry = ElementTree.SubElement(files, "File", {"name": "", "action": "write"})
        ElementTree.SubElement(entry, "Hash", {"name": item.type, "value": item.value.lower()})
    ElementTree.SubElement(system, "Registry").text = ""
    ElementTree.SubElement(system, "Network").text = ""
    return ElementTree.tostring(root, encoding="unicode")


def eoc_matches(text: str | None) -> tuple[EocMatch, ...]:
    """The searched files of an EOC result (`resultInXML`): per file its hash, result and remediation.

    A result that is not well-formed XML, or that declares a DTD or entities, gives nothing (the raw text
    stays on the row); it is never expanded.
    """
    if not text or _DECLARATIONS.search(text):
        return ()
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return ()
    matches = []
    for entry in root.iter("File"):
        matched = entry.find("Matched")
        found = entry.find("Hash")
        attrs = matched.attrib if matched is not None else {}
        hash_attrs = found.attrib if found is not None else {}
        matches.append(EocMatch(
            hash_type=(attrs.get("hashType") or hash_attrs.get("name") or "").upper(),
            hash_value=(attrs.get("hashValue") or hash_attrs.get("value") or "").upper(),
            result=attrs.get("result", "").upper(),
            remediation=attrs.get("remediation") or None,
            path=attrs.get("value") or None,
            file_name=entry.get("name", ""),
        ))
    return tuple(matches)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def command_state_words(state_id: int | None) -> str:
    if state_id is None:
        return "unknown"
    return COMMAND_STATES.get(state_id, f"state {state_id}")


def command_sub_state_words(state_id: int | None, sub_state_id: int | None, description: str = "") -> str:
    """The sub-state in words, with SEPM's own description when it adds something; empty while a row waits
    with nothing to say (SEPM reports sub-state 0, "success", before a computer has even received it) and for
    a command that ended without completing (a cancelled row also says sub-state 0: not a success)."""
    description = " ".join(description.split())
    if sub_state_id is None or (state_id != COMPLETED and sub_state_id in (-1, 0)):
        return description
    words = COMMAND_SUB_STATES.get(sub_state_id, f"sub-state {sub_state_id}")
    if description and description.casefold() != words.casefold():
        return f"{words} ({description})"
    return words


def command_row(record: dict[str, Any]) -> CommandRow:
    """One `CommandStatusDetail` (a computer's row of a command status page) for a person."""
    get = record.get
    state_id = _int_or_none(get("stateId"))
    sub_state_id = _int_or_none(get("subStateId"))
    description = text if isinstance(text := get("subStateDesc"), str) else ""
    result = get("resultInXML") if isinstance(get("resultInXML"), str) and get("resultInXML") else None
    file_id = get("binaryFileId")
    return CommandRow(
        computer_id=str(get("computerId") or ""),
        computer_name=str(get("computerName") or ""),
        state_id=state_id,
        state=command_state_words(state_id),
        sub_state_id=sub_state_id,
        sub_state=command_sub_state_words(state_id, sub_state_id, description),
        final=state_id in FINAL_STATES,
        computer_ip=str(get("computerIp") or ""),
        domain=str(get("domainName") or ""),
        user=str(get("currentLoginUserName") or ""),
        begin_time=rfc3339(get("beginTime")),  # "2019-06-06T10:42:37Z"; null while not picked up yet
        last_update=rfc3339(get("lastUpdateTime")),
        binary_file_id=file_id if isinstance(file_id, str) and file_id else None,
        matches=eoc_matches(result),
        result_xml=result,
    )


# --- events (issue 6) ------------------------------------------------------------------------------------

NOTIFICATION_ENGINE = "notification"
"""`Event.engine` of a critical event: SEPM's notifications to its administrators."""
COMMAND_ENGINE = "command"
"""`Event.engine` of a command-history row; `Event.category` is the command type."""
CRITICAL_EVENTS_SOURCE = "critical-events"
COMMANDS_SOURCE = "command-queue"
COMMAND_LIST_PAGE_SIZE = 100
MAX_COMMAND_LIST_PAGES = 10
MAX_COMMAND_STATUS_PAGES = 20
MAX_HISTORY_COMMANDS = 100
"""At most this many commands (the newest in the window) are followed into their per-computer rows."""
COMMAND_LOOKBACK = timedelta(days=1)
"""A command listed up to this long before the window may still have rows that changed inside it."""

_EVENT_ID = re.compile(r"[0-9A-Fa-f]{32}")
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_DISTANT_PAST = datetime(1970, 1, 1, tzinfo=UTC)
_COMPUTER_LINE = re.compile(r"^\s*(?:computer(?: name)?|host ?name)\s*:\s*(\S.*?)\s*$", re.IGNORECASE | re.MULTILINE)
COMMAND_STATES = {0: "not yet received", 1: "received", 2: "in progress", 3: "completed", 4: "rejected",
                  5: "cancelled", 6: "failed"}
"""`stateId` in words (Broadcom KB 229117)."""
COMMAND_SUB_STATES = {
    -1: "unknown", 0: "success", 1: "client did not execute", 2: "client did not report status",
    3: "duplicate, not executed", 4: "spooled command could not restart", 5: "restart not allowed from console",
    6: "unexpected error", 100: "success", 101: "security risk found", 102: "scan suspended", 103: "scan aborted",
    105: "scan did not return status", 106: "scan failed to start", 110: "Auto-Protect could not be turned on",
    120: "LiveUpdate download in progress", 121: "LiveUpdate download failed", 131: "quarantine delete failed",
    132: "quarantine delete partial success",
}
"""`subStateId` in words (Broadcom KB 229117)."""
_SUCCESS_SUB_STATES = frozenset({-1, 0, 100, 120})
_RISK_SUB_STATES = frozenset({101})


def notification_severity(subject: str) -> Severity:
    """A critical event's severity from its subject: "CRITICAL: ..." is critical; "Information: ...",
    "Informational: ..." and "New software package available" are info; anything else (such as "Server
    Health Alert") is a warning: SEPM lists them among its critical events, but does not call them critical."""
    folded = subject.casefold().strip()
    if folded.startswith("critical"):
        return Severity.CRITICAL
    if folded.startswith(("information", "info:", "new software package")):
        return Severity.INFO
    return Severity.WARNING


def computer_named(message: str) -> str | None:
    """The computer a notification names on a line of its own ("Computer: WS-FIN-00012"), if any."""
    match = _COMPUTER_LINE.search(message)
    return match.group(1) if match else None


def critical_event(record: Any, connection: str, raw: RawPage | None = None, index: int = 0) -> Event | None:
    """Map one `criticalEventsInfoList` item onto an `Event`; None when it has no readable time.

    time: `eventDateTime` (UTC, no zone); title: `subject`, message: `message`, both turned into plain text
    (HTML and escaped HTML included, `html_to_text`); severity from the subject (`notification_severity`);
    device name from a "Computer: NAME" line of the message (SEPM gives no id); `acknowledged` from 0/1.
    """
    if not isinstance(record, dict):
        return None
    moment = epoch_or_rfc3339(record.get("eventDateTime"))
    if moment is None:
        return None
    title = one_line(html_to_text(record.get("subject") or "")) or "SEPM notification"
    message = html_to_text(record.get("message") or "")
    acknowledged = record.get("acknowledged")
    return Event(
        vendor="sepm",
        connection=connection,
        id=str(record.get("eventId") or ""),
        time=moment,
        severity=notification_severity(title),
        engine=NOTIFICATION_ENGINE,
        title=title,
        message=message,
        device_name=computer_named(message),
        acknowledged=None if acknowledged is None else str(acknowledged).strip().lower() in ("1", "true"),
        source=CRITICAL_EVENTS_SOURCE,
        raw_page=raw if raw is not None else RawPage.of([record]),
        raw_index=index if raw is not None else 0,
    )


def _command_id(record: dict[str, Any]) -> str:
    """The listed command's id; "" when absent or unfit for a URL path (an empty segment makes SEPM fail)."""
    value = record.get("commandId") or record.get("commandID") or record.get("id")
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    return text if _SAFE_ID.fullmatch(text) else ""


def _command_type(record: dict[str, Any]) -> str:
    for key in ("commandType", "commandName", "type", "name"):
        if isinstance(record.get(key), str) and record[key].strip():
            return one_line(record[key])
    return ""


def _command_time(record: dict[str, Any]) -> datetime | None:
    for key in ("beginTime", "createdTime", "submittedTime", "createTime", "lastUpdateTime"):
        moment = epoch_or_rfc3339(record.get(key))
        if moment is not None:
            return moment
    return None


def _command_in(command: tuple[dict[str, Any], datetime | None], window: EventWindow) -> bool:
    """Whether a listed command may have rows in the window: its time is unknown, or from a little before
    the window's start (`COMMAND_LOOKBACK`) to its end."""
    moment = command[1]
    if moment is None:
        return True
    return (window.start is None or moment >= window.start - COMMAND_LOOKBACK) and (
        window.end is None or moment < window.end)


def command_event(
    row: Any, command: dict[str, Any], connection: str, raw: RawPage | None = None, index: int = 0
) -> Event | None:
    """Map one row of `GET /command-queue/{id}` (one computer's state of a listed command) onto an `Event`.

    time: the row's `lastUpdateTime`, else `beginTime`, else the command's own time (None: left out).
    severity: critical when the computer found a security risk (sub-state 101) or an Evidence of Compromise
    scan matched (`HASH_MATCH`, `FULL_MATCH` in `resultInXML`); warning when the command was rejected or
    failed (state 4, 6) or its sub-state is not a success; info otherwise.
    title: the command type and the state in words ("ActiveScan completed: security risk found").
    """
    if not isinstance(row, dict):
        return None
    moment = epoch_or_rfc3339(row.get("lastUpdateTime")) or epoch_or_rfc3339(row.get("beginTime")) or _command_time(command)
    if moment is None:
        return None
    state_id = row.get("stateId") if isinstance(row.get("stateId"), int) else None
    sub_id = row.get("subStateId") if isinstance(row.get("subStateId"), int) else None
    state = COMMAND_STATES.get(state_id, f"state {state_id}") if state_id is not None else "state unknown"
    sub_text = one_line(html_to_text(row.get("subStateDesc") or "")) or (
        COMMAND_SUB_STATES.get(sub_id, f"sub-state {sub_id}") if sub_id is not None else "")
    result = xml if isinstance(xml := row.get("resultInXML"), str) else ""
    if sub_id in _RISK_SUB_STATES or "HASH_MATCH" in result or "FULL_MATCH" in result:
        severity = Severity.CRITICAL
    elif state_id in (4, 6) or (sub_id is not None and sub_id not in _SUCCESS_SUB_STATES and state_id == 3):
        severity = Severity.WARNING
    else:
        severity = Severity.INFO
    kind = _command_type(command)
    command_id = _command_id(command)
    computer_id = str(row.get("computerId") or "").strip() or None
    name = one_line(str(row.get("computerName") or "")) or None
    shown_sub = f": {sub_text}" if sub_text and sub_text != "success" else ""
    lines = [f"Command: {command_id}" + (f" ({kind})" if kind else ""),
             f"State: {state}" + (f", {sub_text}" if sub_text else "")]
    if name or row.get("computerIp"):
        lines.append(f"Computer: {name or ''}" + (f" ({row['computerIp']})" if row.get("computerIp") else ""))
    if row.get("currentLoginUserName"):
        lines.append(f"User: {row['currentLoginUserName']}")
    if "_MATCH" in result:
        lines.append("Evidence of Compromise: " + ("match found" if severity is Severity.CRITICAL else "no match"))
    return Event(
        vendor="sepm",
        connection=connection,
        id=f"{command_id}/{computer_id or row.get('hardwareKey') or index}",
        time=moment,
        severity=severity,
        engine=COMMAND_ENGINE,
        category=kind,
        title=one_line(f"{kind or 'Command'} {state}{shown_sub}"),
        message=html_to_text("\n".join(lines)),
        device_id=computer_id,
        device_name=name,
        source=COMMANDS_SOURCE,
        raw_page=raw if raw is not None else RawPage.of([row]),
        raw_index=index if raw is not None else 0,
    )


def _newest_first(event: Event) -> tuple[float, str]:
    return (-event.time.timestamp(), event.id)


async def _zip_async(items: list[Any], pages: AsyncIterator[Any]) -> AsyncIterator[tuple[Any, Any]]:
    """Pair each of `items` with what `pages` yields for it, in order."""
    position = 0
    async for page in pages:
        yield items[position], page
        position += 1
