"""The shared transport: bounded retries, Retry-After, the ordered concurrent pager, and every simulator
fault through a real client over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tui.models import Connection
from tui.simulators.faults import FaultError, parse_fault
from tui.simulators.sepm import DEMO_PASSWORD, SepmFleet, SepmSimulator, create_app
from tui.simulators.serve import ServerThread
from tui.vendors.base import (
    MAX_ATTEMPTS,
    BadResponseError,
    NetworkError,
    RateLimitedError,
    ServerError,
    ordered_pages,
    waits_told_to,
)
from tui.vendors.sepm import SepmClient

COMPUTERS = "/sepm/api/v1/computers"


class Recorder:
    """Stands in for asyncio.sleep: remembers the pauses instead of taking them."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


def mock_client(handler, sleep: Recorder) -> SepmClient:
    connection = Connection(name="m", vendor="sepm", url="https://sepm.test:8446", username="u")
    return SepmClient(connection, "pw", transport=httpx.MockTransport(handler), sleep=sleep)


async def test_retry_after_is_obeyed_and_reported() -> None:
    answers = iter([httpx.Response(429, headers={"retry-after": "7"}, json={}), httpx.Response(200, json={"ok": 1})])
    sleep = Recorder()
    client = mock_client(lambda request: next(answers), sleep)
    said: list[str | None] = []
    with waits_told_to(said.append):
        assert await client.get_json("/x") == {"ok": 1}
    assert sleep.pauses == [7.0]
    assert said[0] is not None and "rate limited; retrying in 7 s" in said[0]
    assert said[-1] is None


async def test_two_calls_on_one_client_each_hear_only_their_own_waits() -> None:
    """The events screen and the groups screen share a console's client: a wait of one is not said by the other
    (issue 14: a shared listener slot made an events load report into a hidden screen)."""
    limited_answers = iter([httpx.Response(429, headers={"retry-after": "3"}, json={}), httpx.Response(200, json={})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(limited_answers) if request.url.path == "/limited" else httpx.Response(200, json={})

    client = mock_client(handler, Recorder())
    limited_said: list[str | None] = []
    calm_said: list[str | None] = []

    async def limited() -> None:
        with waits_told_to(limited_said.append):
            await client.get_json("/limited")

    async def calm() -> None:
        with waits_told_to(calm_said.append):
            await client.get_json("/calm")

    await asyncio.gather(limited(), calm())
    assert limited_said and "rate limited" in (limited_said[0] or "") and limited_said[-1] is None
    assert calm_said == []


async def test_backoff_is_bounded_and_the_last_error_is_raised() -> None:
    calls = []

    def always_503(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"errorMessage": "maintenance"})

    sleep = Recorder()
    with pytest.raises(ServerError) as caught:
        await mock_client(always_503, sleep).get_json("/x")
    assert len(calls) == MAX_ATTEMPTS
    assert sleep.pauses == [0.5, 1.0, 2.0]
    assert "maintenance" in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
async def test_other_failures_are_not_retried(status: int) -> None:
    calls = []

    def fail(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json={})

    with pytest.raises(Exception):
        await mock_client(fail, Recorder()).get_json("/x")
    assert len(calls) == 1


async def test_a_retry_after_beyond_the_cap_is_an_error_not_a_long_wait() -> None:
    sleep = Recorder()
    client = mock_client(lambda request: httpx.Response(429, headers={"retry-after": "3600"}, json={}), sleep)
    with pytest.raises(RateLimitedError) as caught:
        await client.get_json("/x")
    assert caught.value.retry_after == 3600 and sleep.pauses == []


async def test_ordered_pages_bounds_concurrency_and_keeps_order() -> None:
    in_flight = peak = 0

    async def fetch(index: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01 * (index % 3))  # later pages may finish first
        in_flight -= 1
        return index

    pages = [page async for page in ordered_pages(fetch, range(2, 30), concurrency=4)]
    assert pages == list(range(2, 30))
    assert peak == 4


async def test_ordered_pages_send_the_next_request_when_one_finishes_not_when_its_turn_comes() -> None:
    started: list[int] = []

    async def fetch(index: int) -> int:
        started.append(index)
        await asyncio.sleep(0.05 if index == 0 else 0)  # the first page is slow, the others are not
        return index

    pages = ordered_pages(fetch, range(10), concurrency=2)
    assert await anext(pages) == 0
    assert started[:4] == [0, 1, 2, 3]  # pages 2 and 3 went out while page 0 was awaited; 4 would pass the window
    assert [page async for page in pages] == list(range(1, 10))


async def test_ordered_pages_cancels_the_rest_when_a_page_fails() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def fetch(index: int) -> int:
        started.append(index)
        if index == 3:
            raise ServerError("page 3 failed")
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            cancelled.append(index)
            raise
        return index

    with pytest.raises(ServerError):
        async for _ in ordered_pages(fetch, range(3, 100), concurrency=3):
            pass
    assert len(started) == 3 and sorted(cancelled) == [4, 5]


def test_fault_specs_parse_and_reject_nonsense() -> None:
    fault = parse_fault("429=7@/sepm/api/v1/computers")
    assert (fault.kind, fault.value, fault.path) == ("429", 7.0, "/sepm/api/v1/computers")
    with pytest.raises(FaultError):
        parse_fault("explode")
    with pytest.raises(FaultError):
        parse_fault("latency=soon")


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[SepmSimulator, str]]:
    simulator = SepmSimulator(SepmFleet(size=1100, seed=5))
    with ServerThread(create_app(simulator)) as server:
        yield simulator, server.url


async def list_all(url: str, *, concurrency: int = 4) -> list[str]:
    connection = Connection(name="l", vendor="sepm", url=url, username="admin", allow_http=True)
    client = SepmClient(connection, DEMO_PASSWORD, page_concurrency=concurrency, sleep=Recorder())
    try:
        return [device.id async for page in client.devices() for device in page.devices]
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("fault", "value", "outcome"),
    [
        ("latency", 30, None),
        ("slow-body", 0.2, None),
        ("html", None, None),
        ("429", 1, None),
        ("reset", None, None),
        ("expire-token", None, None),
        ("500", None, ServerError),
        ("malformed", None, BadResponseError),
        ("truncated", None, BadResponseError),
    ],
)
async def test_every_fault_gives_a_typed_error_or_a_clean_retry(loopback, fault, value, outcome) -> None:
    simulator, url = loopback
    simulator.faults.clear()
    simulator.faults.add(fault, value=value, path=COMPUTERS)
    try:
        if outcome is None:
            ids = await asyncio.wait_for(list_all(url), 30)
            assert len(ids) == len(set(ids)) == 1100
        else:
            with pytest.raises(outcome):
                await asyncio.wait_for(list_all(url), 30)
    finally:
        simulator.faults.clear()


async def test_a_connection_that_keeps_dropping_fails_after_bounded_retries(loopback) -> None:
    simulator, url = loopback
    simulator.faults.add("reset", path=COMPUTERS, times=None)
    try:
        with pytest.raises(NetworkError) as caught:
            await asyncio.wait_for(list_all(url), 30)
        assert "closed the connection" in str(caught.value)
    finally:
        simulator.faults.clear()


async def test_a_body_that_trickles_in_fails_at_the_whole_request_deadline_and_is_retried(loopback) -> None:
    """httpx's read timeout counts per read, so only a deadline on the whole request ends a trickling body."""
    simulator, url = loopback
    simulator.faults.add("slow-body", value=8, path=COMPUTERS, times=None)  # a piece a second
    connection = Connection(name="l", vendor="sepm", url=url, username="admin", allow_http=True)
    sleep = Recorder()
    said: list[str | None] = []
    client = SepmClient(connection, DEMO_PASSWORD, sleep=sleep, request_timeout=0.3)
    try:
        started = asyncio.get_running_loop().time()
        with waits_told_to(said.append), pytest.raises(NetworkError) as caught:
            await asyncio.wait_for(client.get(COMPUTERS), 30)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        simulator.faults.clear()
        await client.aclose()
    assert caught.value.retryable
    assert "did not finish answering within 0.3 s" in str(caught.value)
    assert sleep.pauses == [0.5, 1.0, 2.0]  # retried like a dropped connection, then said in words
    assert said[0] is not None and "retrying in 0.5 s" in said[0]
    assert elapsed < 4  # four attempts of 0.3 s, not four bodies of 8 s


async def test_concurrent_pages_arrive_in_order_with_every_device_once(loopback) -> None:
    simulator, url = loopback
    ids_sequential = await list_all(url, concurrency=1)
    ids_concurrent = await list_all(url, concurrency=4)
    assert ids_sequential == ids_concurrent
    assert len(set(ids_concurrent)) == 1100


async def test_the_benchmark_page_cache_serves_repeats_from_memory(loopback, monkeypatch) -> None:
    simulator, url = loopback
    simulator.faults.cached_answers = {}
    try:
        first = await list_all(url)

        def no_more_building(index: int) -> dict:
            raise AssertionError("a cached page was built again")

        monkeypatch.setattr(simulator.fleet, "computer", no_more_building)
        assert await list_all(url) == first
    finally:
        simulator.faults.cached_answers = None


@pytest.mark.parametrize("failure,words", [
    (httpx.ReadTimeout("timed out"), "did not answer in time (while it was answering)"),
    (httpx.ConnectTimeout("timed out"), "did not answer in time (while connecting)"),
    (httpx.ProxyError("refused"), "failed (the proxy refused it)"),
    (httpx.UnsupportedProtocol("no scheme"), "failed (the URL must start with https:// or http://)"),
])
async def test_transport_failures_are_said_in_words_without_class_names(failure, words) -> None:
    """No internal class name reaches the user (issue 15): "(ReadTimeout)" became words."""
    from tui.vendors.sepm import SepmClient

    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    client = SepmClient(Connection(name="x", vendor="sepm", url="https://sepm.test:8446"), "pw",
                        transport=httpx.MockTransport(fail))
    try:
        with pytest.raises(NetworkError) as caught:
            await client.request("GET", "/sepm/api/v1/version")
    finally:
        await client.aclose()
    assert words in str(caught.value)
    assert type(failure).__name__ not in str(caught.value)


async def test_a_request_over_the_network_imports_nothing_each_time(loopback, monkeypatch) -> None:
    """httpcore imports sniffio for every lock it sets up (four a request) and Python does not remember a failed
    import: without the sniffio dependency each request searched sys.path four times (encode/httpcore#1103)."""
    import builtins

    _, url = loopback
    failed: list[str] = []
    real_import = builtins.__import__

    def watched(name, *args, **kwargs):
        try:
            return real_import(name, *args, **kwargs)
        except ImportError:
            failed.append(name)
            raise

    async with httpx.AsyncClient() as client:
        await client.get(f"{url}/sepm/api/v1/version")
        monkeypatch.setattr(builtins, "__import__", watched)
        for _ in range(3):
            await client.get(f"{url}/sepm/api/v1/version")
    assert failed == []
