"""The request log (`--log FILE`, `$EPX_LOG`): real requests to the SEPM simulator over loopback, and the lines
they leave. Every line is one JSON object; no line carries the password, a token or a header."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import FIXED_NOW, RecordingSimulator
from tui import cli
from tui.models import Connection
from tui.request_log import redacted_target, start_request_log, stop_request_log
from tui.simulators.sepm import SepmFleet, create_app
from tui.simulators.serve import ServerThread
from tui.vendors.base import AuthenticationError, NetworkError, ServerError
from tui.vendors.sepm import SepmClient

PASSWORD = "S3cr3t-Canary-RequestLog-7f3a"
WRONG_PASSWORD = "S3cr3t-Canary-WrongGuess-91b2"
API = "/sepm/api/v1"
LOGIN = f"{API}/identity/authenticate"
WAIT = 30.0


@pytest.fixture
def simulator() -> Iterator[tuple[RecordingSimulator, str]]:
    simulator = RecordingSimulator(SepmFleet(size=30, seed=5, now=FIXED_NOW), password=PASSWORD)
    with ServerThread(create_app(simulator)) as server:
        yield simulator, server.url


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "requests.log"
    handler = start_request_log(path)
    yield path
    stop_request_log(handler)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


async def no_wait(_seconds: float) -> None:
    """Retries happen at once: the backoff is the client's business, not this test's."""


def sepm_client(url: str, password: str) -> SepmClient:
    connection = Connection(name="lab-sepm", vendor="sepm", url=url, username="admin", allow_http=True)
    return SepmClient(connection, password, clock=lambda: FIXED_NOW, sleep=no_wait)


async def test_login_relogin_rate_limit_and_failures_each_leave_a_line_without_a_secret(simulator, log_file):
    sim, url = simulator
    client = sepm_client(url, PASSWORD)
    try:
        await asyncio.wait_for(client.check_login(), WAIT)
        sim.faults.add("expire-token")  # the next request meets a token the console forgot: 401, login, again
        await asyncio.wait_for(client.groups(), WAIT)
        sim.faults.add("429", value=0, path=f"{API}/groups")
        await asyncio.wait_for(client.groups(), WAIT)
        sim.faults.add("500", path=f"{API}/groups")
        with pytest.raises(ServerError):
            await asyncio.wait_for(client.groups(), WAIT)
        sim.faults.add("reset", path=f"{API}/groups", times=None)
        with pytest.raises(NetworkError):
            await asyncio.wait_for(client.groups(), WAIT)
        sim.faults.clear()
    finally:
        await client.aclose()
    wrong = sepm_client(url, WRONG_PASSWORD)
    try:
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(wrong.check_login(), WAIT)
    finally:
        await wrong.aclose()

    lines = read_lines(log_file)
    summary = [(line["method"], line["path"].split("?")[0], line["status"], line["attempt"], line["error"])
               for line in lines]
    groups = f"{API}/groups"
    assert summary == [
        ("POST", LOGIN, 200, 1, None),
        ("GET", groups, 401, 1, "unauthorized"),  # the expired token
        ("POST", LOGIN, 200, 1, None),  # the new login
        ("GET", groups, 200, 1, None),  # and the same call again
        ("GET", groups, 429, 1, "too many requests"),
        ("GET", groups, 200, 2, None),  # the retry after the 429
        ("GET", groups, 500, 1, "internal server error"),  # not retried
        *[("GET", groups, None, attempt, "connection dropped") for attempt in (1, 2, 3, 4)],
        ("POST", LOGIN, 401, 1, "unauthorized"),  # the wrong password
    ]
    for line in lines:
        assert set(line) == {"time", "connection", "vendor", "method", "path", "status", "elapsed_ms", "bytes",
                             "attempt", "error"}
        assert (line["connection"], line["vendor"]) == ("lab-sepm", "sepm")
        assert line["time"].endswith("Z") and line["elapsed_ms"] >= 0
    assert lines[3]["path"] == f"{groups}?pageIndex=1&pageSize=500" and lines[3]["bytes"] > 0
    text = log_file.read_text("utf-8")
    assert len(sim.issued) == 2
    for secret in (PASSWORD, WRONG_PASSWORD, *sim.issued):
        assert secret not in text
    assert "authorization" not in text.lower() and "bearer" not in text.lower()


async def test_the_log_file_is_private_and_appended_to(simulator, tmp_path):
    _, url = simulator
    path = tmp_path / "requests.log"
    for _ in range(2):
        handler = start_request_log(path)
        client = sepm_client(url, PASSWORD)
        try:
            await asyncio.wait_for(client.check_login(), WAIT)
        finally:
            await client.aclose()
            stop_request_log(handler)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(read_lines(path)) == 2


async def test_the_lines_go_to_the_file_only(simulator, log_file, caplog):
    """Not to a handler of the root logger (a terminal, pytest's capture): only where --log said."""
    _, url = simulator
    client = sepm_client(url, PASSWORD)
    try:
        await asyncio.wait_for(client.check_login(), WAIT)
    finally:
        await client.aclose()

    assert len(read_lines(log_file)) == 1
    assert not [record for record in caplog.records if record.name == "epx.requests"]


def test_secret_query_values_and_known_secrets_are_blanked():
    target = redacted_target("/api/tok%2Fen?page=2", {"access_token": "abc", "q": "x tok/en y"}, ("tok/en", None))

    assert target == "/api/***?page=2&access_token=***&q=x+***+y"


def test_the_cli_logs_to_the_file_of_option_or_environment(tmp_path, monkeypatch, capsys):
    by_option, by_env = tmp_path / "option.log", tmp_path / "env.log"

    assert cli.main(["--demo", "--demo-size", "20", "groups", "--connection", "demo-sepm", "--log", str(by_option),
                     "--format", "json"]) == cli.EXIT_OK
    monkeypatch.setenv("EPX_LOG", str(by_env))
    assert cli.main(["--demo", "--demo-size", "20", "devices", "--connection", "demo-elements"]) == cli.EXIT_OK

    assert [line["vendor"] for line in read_lines(by_option)] == ["sepm", "sepm"]  # the login, then the groups
    assert {line["vendor"] for line in read_lines(by_env)} == {"elements"}
    capsys.readouterr()


def test_a_log_file_that_cannot_be_opened_is_a_usage_error(tmp_path, capsys):
    code = cli.main(["--demo", "groups", "--connection", "demo-sepm", "--log", str(tmp_path / "missing" / "x.log")])

    assert code == cli.EXIT_USAGE
    assert "cannot open the log file" in capsys.readouterr().err
