"""Test helpers: what an attacker who controls an endpoint can make a console send, and a SEPM fleet that sends it.

Shared by the record, CLI and Pilot tests (test_untrusted_text.py) and the real-terminal test (test_e2e_tmux.py).
"""

from __future__ import annotations

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
