"""A dropped SSH session: the real `epx --demo` in a pseudo-terminal, loading a big fleet, then its terminal goes
away (SIGHUP with the terminal still there, the terminal closed, the terminal closed while SIGHUP is ignored).
Each time the process must be gone within 5 seconds, having exited on its own (status 129), not killed."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

from tui.app import HANGUP_EXIT_CODE

EXIT_WITHIN = 20.0  # a bound for "never left", not a speed: the test goes on the moment epx is gone
START_WITHIN = 60.0  # generous: a busy machine may start Python and Textual slowly
REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals only")


class Session:
    """`epx --demo` as the session leader of a fresh pseudo-terminal, as sshd starts it."""

    def __init__(self, *, ignore_sighup: bool = False) -> None:
        argv = [sys.executable, "-m", "tui.cli", "--demo", "--demo-size", "100000"]
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        env.pop("TMUX", None)
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: only system calls until exec
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
                if ignore_sighup:
                    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup: exec keeps it ignored
                os.chdir(REPO)
                os.execve(sys.executable, argv, env)
            finally:
                os._exit(127)
        self.output = b""
        self.status: int | None = None

    def drain(self, seconds: float) -> None:
        """Read what the app writes for `seconds` (a terminal nobody reads would block it)."""
        deadline = time.monotonic() + seconds
        while self.master >= 0 and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    return
                self.output += chunk

    def wait_for(self, text: bytes) -> None:
        deadline = time.monotonic() + START_WITHIN
        while text not in self.output:
            assert time.monotonic() < deadline, f"{text!r} never appeared: {self.output[-500:]!r}"
            assert os.waitpid(self.pid, os.WNOHANG) == (0, 0), "epx ended early"
            self.drain(0.1)

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close_terminal(self) -> None:
        os.close(self.master)
        self.master = -1

    def seconds_to_exit(self) -> float:
        """How long the process took to be gone (reaped); `EXIT_WITHIN` and a bit more means it never left."""
        started = time.monotonic()
        while time.monotonic() - started < EXIT_WITHIN:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return time.monotonic() - started
            self.drain(0.05)
        return time.monotonic() - started

    def end(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        if self.master >= 0:
            os.close(self.master)


@pytest.fixture
def loading():
    """A session in the middle of loading 100,000 SEPM devices: workers are running."""
    sessions: list[Session] = []

    def start(**options) -> Session:
        session = Session(**options)
        sessions.append(session)
        session.wait_for(b"demo-sepm")
        session.press(b"\r")  # open the highlighted connection, the demo SEPM
        session.wait_for(b"loaded")
        return session

    yield start
    for session in sessions:
        session.end()


def assert_left_on_its_own(session: Session, took: float) -> None:
    assert session.status is not None, f"epx was still running {took:.1f} s after the hang-up"
    assert os.WIFEXITED(session.status), f"epx was killed by signal {os.WTERMSIG(session.status)}"
    assert os.WEXITSTATUS(session.status) == HANGUP_EXIT_CODE
    assert b"Traceback" not in session.output


def test_sighup_with_the_terminal_still_there_exits_and_restores_it(loading):
    session = loading()
    shown = len(session.output)

    os.kill(session.pid, signal.SIGHUP)
    took = session.seconds_to_exit()

    assert_left_on_its_own(session, took)
    after = session.output[shown:]
    assert b"\x1b[?1049l" in after and b"\x1b[?25h" in after  # left the alternate screen, cursor shown again
    assert b"\x1b[?1000l" in after  # mouse reporting off


def test_closing_the_terminal_ends_the_app(loading):
    session = loading()

    session.close_terminal()  # the kernel hangs up the session: its leader gets SIGHUP
    took = session.seconds_to_exit()

    assert_left_on_its_own(session, took)


def test_closing_the_terminal_ends_the_app_even_when_sighup_is_ignored(loading):
    session = loading(ignore_sighup=True)

    session.close_terminal()  # only stdin tells: it hangs up
    took = session.seconds_to_exit()

    assert_left_on_its_own(session, took)
