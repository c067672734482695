"""Test helpers: what an attacker who controls an endpoint can make a console send, and a SEPM fleet that sends it.

Shared by the record, CLI and Pilot tests (test_untrusted_text.py) and the real-terminal test (test_e2e_tmux.py).
"""

from __future__ import annotations

import json

from tui.simulators.sepm import SepmFleet, SepmSimulator

HOSTILE = {
    "osc52": "\x1b]52;c;ZWNobyBwd25lZA==\x07",  # writes the responder's clipboard
    "osc8": "\x1b]8;;https://evil.example/\x1b\\here\x1b]8;;\x1b\\",  # plants a link
    "osc0": "\x1b]0;pwned\x07",  # retitles the window
    "csi": "\x1b[2J\x1b[H",  # clears the screen
    "c1-csi": "\u009b2J",  # the 8-bit CSI
    "bidi": "\u202egnp.exe",  # shows "exe.png" reversed
    "isolate": "\u2066x\u2069",
    "nul-del": "\x00a\x7f",
}
DANGER = ("\x1b", "\x07", "\x00", "\x7f", "\u009b", "\u202e", "\u2066", "\u2069")


def assert_harmless(text: str) -> None:
    found = [repr(char) for char in DANGER if char in text]
    assert not found, f"{', '.join(found)} reached the output: {text[:400]!r}"


USERNAME, PASSWORD = "api-reader", "Hostile-Test-Pass-1"


class HostileFleet(SepmFleet):
    """The first computers' name, user, OS and address, one group's path and the version carry a payload each."""

    def __init__(self) -> None:
        super().__init__(40, seed=13)
        servers = next(group for group in self.groups if group["fullPathName"] == "My Company\\Servers")
        servers["fullPathName"] = servers["name"] = f"My Company\\Servers{HOSTILE['osc0']}"

    def computer(self, index: int) -> dict:
        record = super().computer(index)
        payloads = list(HOSTILE.values())
        if index < len(payloads):
            payload = payloads[index]
            record["computerName"] = f"host{index}{payload}"
            record["logonUserName"] = f"user{payload}"
            record["osName"] = f"Windows{payload}"
            record["ipAddresses"] = [f"10.9.9.{index}{payload}"]
        return record


class HostileSimulator(SepmSimulator):
    @property
    def version(self) -> dict[str, str]:
        return {**super().version, "version": f"14.3{HOSTILE['osc52']}"}


class RewritingApp:
    """An ASGI wrapper that makes a simulator misbehave the way a broken or hostile console would: requests to a
    path ending in `suffix` get their query rewritten, and their JSON answer rewritten, before the client sees it.
    `body` returns the new JSON value, or text to send as it is (JSON that no encoder would write).
    `requests` counts what reached that path (a listing that never ends shows here); past `limit` of them the
    path answers 410, so a client that would loop for ever fails its test instead of hanging it."""

    def __init__(self, app, suffix: str, *, query=None, body=None, form=None, limit: int = 50) -> None:
        self.app, self.suffix, self.query, self.body, self.form, self.limit = app, suffix, query, body, form, limit
        self.requests = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(self.suffix):
            await self.app(scope, receive, send)
            return
        self.requests += 1
        if self.requests > self.limit:
            gone = b'{"message": "the test stopped a listing that never ends"}'
            await send({"type": "http.response.start", "status": 410,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(gone))]})
            await send({"type": "http.response.body", "body": gone})
            return
        if self.query is not None:
            scope = {**scope, "query_string": self.query(scope["query_string"].decode()).encode()}
        if self.form is not None:  # a form body (Elements' event search) rewritten like a query
            sent = b""
            while True:
                message = await receive()
                sent += message.get("body", b"")
                if not message.get("more_body"):
                    break
            rewritten = self.form(sent.decode()).encode()
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"content-length"]
                     + [(b"content-length", str(len(rewritten)).encode())]}

            async def receive():
                return {"type": "http.request", "body": rewritten, "more_body": False}
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    body = b"".join(chunks)
                    if self.body is not None and 200 <= start["status"] < 300:
                        answer = self.body(json.loads(body.decode("utf-8", "replace"), strict=False))
                        body = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
                    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                    await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


def epx_against(app, tmp_path, monkeypatch, capsys, *argv: str, vendor: str = "sepm", username: str = USERNAME,
                password: str = PASSWORD) -> tuple[int, str, str]:
    """`epx ARGV --config … --connection lab` in-process, against `app` served on loopback: (exit, out, err)."""
    import tomli_w

    from tui.cli import main
    from tui.simulators.serve import ServerThread

    monkeypatch.setenv("EPX_TEST_HOSTILE_PASSWORD", password)
    with ServerThread(app) as server:
        config = tmp_path / "config.toml"
        config.write_text(tomli_w.dumps({"connections": {"lab": {
            "vendor": vendor, "url": server.url, "allow_http": True, "username": username,
            "password_env": "EPX_TEST_HOSTILE_PASSWORD"}}}))
        code = main([*argv, "--config", str(config), "--connection", "lab"])
    out, err = capsys.readouterr()
    return code, out, err
