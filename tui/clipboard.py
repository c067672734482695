"""Copying to the user's clipboard from a terminal that may be remote: OSC 52, optionally through tmux.

Non-UI core (no textual import): this module builds the bytes to write (the app writes them through its
terminal driver), or hands the text to tmux. It never truncates: a text too large for terminals to accept is refused
with a sentence that says so, rather than landing half-copied on the clipboard.

The sequences, for the text "hi" (base64 "aGk="):

- OSC 52:              ESC ] 52 ; c ; aGk= BEL
- in tmux (passthrough): ESC P tmux; ESC ESC ] 52 ; c ; aGk= BEL ESC \\
  (a DCS that tmux unwraps and forwards to the outer terminal; every ESC inside is doubled; tmux 3.3+
  needs `set -g allow-passthrough on`)

Inside tmux, with `clipboard = "auto"`, the copy goes through tmux itself (`copy_with_tmux`): a stock tmux
has passthrough off, so a wrapped OSC 52 would vanish while the app said "Copied". `tmux load-buffer -w -`
puts the text in tmux's paste buffer and, where tmux's `set-clipboard` is on or external, on the outer
terminal's clipboard too; the app says which. The passthrough sequence is the fallback when tmux refuses.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from tui.config import CLIPBOARD_MODES

ESC = "\x1b"
BEL = "\x07"

OSC52_MAX_BASE64 = 100_000
"""Largest base64 payload we send (about 73 KiB of UTF-8 text). It is the limit Chromium OS's osc52.vim
and vim-oscyank use by default, which terminals and tmux (whose input buffer is larger) accept; a
terminal that gets more than it accepts usually drops the whole sequence without a word."""

PREVIEW_LENGTH = 40


class ClipboardError(Exception):
    """Nothing was copied; the message is one sentence for the user."""


class ClipboardOff(ClipboardError):
    def __init__(self) -> None:
        super().__init__('Copying is off (clipboard = "off" in the config).')


class ClipboardTooLarge(ClipboardError):
    def __init__(self, what: str, encoded: int, limit: int) -> None:
        self.encoded = encoded
        self.limit = limit
        super().__init__(
            f"Not copied: {what} is too large for the terminal's clipboard "
            f"({encoded:,} bytes of base64, the limit is {limit:,})."
        )


def tmux_passthrough(sequence: str) -> str:
    """`sequence` wrapped in tmux's DCS passthrough, so tmux hands it to the outer terminal unchanged."""
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ESC}\\"


def clipboard_sequence(
    text: str,
    mode: str,
    environ: Mapping[str, str] = os.environ,
    *,
    what: str = "the text",
    limit: int = OSC52_MAX_BASE64,
) -> str:
    """What to write to the terminal to put `text` on the clipboard, for a `settings.clipboard` mode.

    - "auto": OSC 52, wrapped for tmux passthrough when $TMUX is set (non-empty) in `environ`;
    - "osc52": OSC 52 never wrapped (tmux with `set -g set-clipboard on` forwards it itself);
    - "off": raises ClipboardOff.

    Raises ClipboardTooLarge when the base64 of `text` is longer than `limit` (`what` names the text
    in that message), and ValueError for a mode that is not one of CLIPBOARD_MODES.
    """
    if mode not in CLIPBOARD_MODES:
        raise ValueError(f"Unknown clipboard mode {mode!r}; expected one of {', '.join(CLIPBOARD_MODES)}.")
    if mode == "off":
        raise ClipboardOff()
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if len(encoded) > limit:
        raise ClipboardTooLarge(what, len(encoded), limit)
    sequence = f"{ESC}]52;c;{encoded}{BEL}"  # "c": the clipboard selection
    if mode == "auto" and environ.get("TMUX"):
        return tmux_passthrough(sequence)
    return sequence


TMUX_TIMEOUT_S = 2.0
TMUX_BUFFER = "tmux's paste buffer (prefix ] pastes it)"


def copy_with_tmux(
    text: str, environ: Mapping[str, str] = os.environ, *, run: Callable[..., subprocess.CompletedProcess[Any]] = subprocess.run
) -> str:
    """Copy `text` through the tmux this process runs in ($TMUX): into its paste buffer, and onto the outer
    terminal's clipboard where tmux forwards it (`set-clipboard` on or external). Returns where the copy went, in
    words; raises ClipboardError when tmux could not be asked or refused."""
    env = dict(environ)
    try:
        option = run(["tmux", "show-options", "-gv", "set-clipboard"], capture_output=True, text=True, env=env,
                     timeout=TMUX_TIMEOUT_S).stdout.strip()
        loaded = run(["tmux", "load-buffer", "-w", "-"], input=text.encode("utf-8"), capture_output=True, env=env,
                     timeout=TMUX_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        raise ClipboardError("Not copied through tmux: the tmux command could not be run.") from None
    if loaded.returncode != 0:
        reason = " ".join(loaded.stderr.decode("utf-8", "replace").split()) or f"exit {loaded.returncode}"
        raise ClipboardError(f"Not copied through tmux: it answered {reason[:120]!r}.")
    return f"{TMUX_BUFFER} and the terminal's clipboard" if option in ("on", "external") else TMUX_BUFFER


def preview(text: str, length: int = PREVIEW_LENGTH) -> str:
    """`text` on one line for a notification: whitespace and control characters collapsed to single
    spaces, cut with an ellipsis so the result is never longer than `length` characters."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    if not flat:
        return "(empty)" if not text else "(blank)"
    if len(flat) <= length:
        return flat
    return flat[: length - 1].rstrip() + "…"
