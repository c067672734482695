"""File hashes as an incident responder types them: validated, typed by length, compared upper-case.

Non-UI core (no textual import): the SEPM client, the simulator, the CLI and the screens share it.
An MD5 is 32 hexadecimal digits and a SHA-256 is 64, in any case; SEPM stores and returns them
upper-case, so every comparison here is upper-case. SHA-1 (40 digits) is accepted only where SEPM
takes it: an Evidence of Compromise scan (see `SHA1_NOTE`), never a fingerprint list or a file fetch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MD5, SHA1, SHA256 = "MD5", "SHA1", "SHA256"
"""Hash type names as SEPM spells them (`hashType`, `<Hash name=...>`)."""
HASH_LENGTHS = {MD5: 32, SHA1: 40, SHA256: 64}
LABELS = {MD5: "MD5", SHA1: "SHA-1", SHA256: "SHA-256"}
"""How a person writes each type."""
SHA1_NOTE = ("SEPM deletes a file found by its SHA-1 hash only after a full Power Eraser scan of that computer "
             "(Symantec article 164858); use MD5 or SHA-256 where you can.")

_HEX = re.compile(r"[0-9A-Fa-f]+")
_SEPARATORS = re.compile(r"[\s,;]+")
_BY_LENGTH = {length: kind for kind, length in HASH_LENGTHS.items()}


class HashError(ValueError):
    """Text that is not a hash this place accepts; `str()` says what is wrong in one sentence."""


@dataclass(frozen=True, slots=True)
class FileHash:
    """A validated hash: its type ("MD5", "SHA1", "SHA256") and its value in upper-case hex."""

    type: str
    value: str

    @property
    def label(self) -> str:
        return LABELS[self.type]

    def __str__(self) -> str:
        return self.value


def parse_hash(text: str, *, allow_sha1: bool = False) -> FileHash:
    """`text` (surrounding blanks ignored, any case) as an MD5 or SHA-256, or SHA-1 when `allow_sha1`."""
    value = text.strip()
    accepted = "an MD5 (32 hexadecimal digits)" + (", a SHA-1 (40)" if allow_sha1 else "") + " or a SHA-256 (64)"
    if not value:
        raise HashError(f"No hash given: paste {accepted}.")
    shown = value if len(value) <= 70 else value[:67] + "..."
    if not _HEX.fullmatch(value):
        raise HashError(f"{shown!r} is not a hash: use only the digits 0-9 and the letters a-f; expected {accepted}.")
    kind = _BY_LENGTH.get(len(value))
    if kind is None or (kind == SHA1 and not allow_sha1):
        what = "a SHA-1, which is not accepted here" if kind == SHA1 else f"{len(value)} hexadecimal digits"
        raise HashError(f"{shown!r} is {what}; expected {accepted}.")
    return FileHash(kind, value.upper())


def parse_hashes(texts: Iterable[str], *, allow_sha1: bool = False) -> tuple[FileHash, ...]:
    """Several hashes (each validated as by `parse_hash`), duplicates dropped, the first order kept."""
    seen: dict[str, FileHash] = {}
    for text in texts:
        parsed = parse_hash(text, allow_sha1=allow_sha1)
        seen.setdefault(parsed.value, parsed)
    return tuple(seen.values())


def hashes_in_text(text: str, *, allow_sha1: bool = False) -> tuple[FileHash, ...]:
    """The hashes typed or pasted in one field, separated by blanks, commas or semicolons."""
    return parse_hashes((part for part in _SEPARATORS.split(text) if part), allow_sha1=allow_sha1)


def same_hash(left: str, right: str) -> bool:
    """Two hash strings name the same file hash (case and surrounding blanks do not matter)."""
    return left.strip().upper() == right.strip().upper()


@dataclass(frozen=True, slots=True)
class HashDiff:
    """What replacing a list's hashes changes: shown before an update is sent (`POST` replaces the list)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    def summary(self) -> str:
        """"2 added, 1 removed, 10 kept" (or "no change")."""
        if not self.changed:
            return "no change"
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self.kept)} kept"


def diff_hashes(old: Iterable[str], new: Iterable[str]) -> HashDiff:
    """The difference from the hashes `old` to `new`, upper-case, each in its list's order."""
    before = list(dict.fromkeys(value.strip().upper() for value in old))
    after = list(dict.fromkeys(value.strip().upper() for value in new))
    before_set, after_set = set(before), set(after)
    return HashDiff(
        added=tuple(value for value in after if value not in before_set),
        removed=tuple(value for value in before if value not in after_set),
        kept=tuple(value for value in before if value in after_set),
    )
