"""Text from consoles made safe for a terminal: HTML turned into plain text, control characters removed.

SEPM's critical-event messages mix plain text (with `\\n` line breaks), HTML (`<br/>`, `<a href=...>`) and
HTML that was escaped once more (`&lt;a class=&quot;bluelink&quot; ...&gt;`). `html_to_text` reads them with
the standard library's lenient `html.parser`: tags dropped, entities unescaped, each `<br>` and the edges of
blocks as line breaks, a link's address kept after its text, scripts and styles dropped; escaped HTML is
converted again (a few rounds at most). Whatever the input, the output is printable text: no escape
sequences, no bidi controls.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
})
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript"})
_MAX_ROUNDS = 3
_LOOKS_LIKE_HTML = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>|&(?:[a-zA-Z]{2,8}|#\d{1,7}|#[xX][0-9a-fA-F]{1,6});")
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"[ \t\f\v\xa0\u2000-\u200b\u3000]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._links: list[tuple[str, int]] = []
        """(href, index in `parts` where the link's text starts) of each open <a>."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self._line_break()
        elif tag == "a":
            href = next((value or "" for name, value in attrs if name == "href"), "")
            self._links.append((href.strip(), len(self.parts)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self._line_break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self._line_break()
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            text = "".join(self.parts[start:]).strip()
            if href.lower().startswith(("http://", "https://", "mailto:")) and href != text:
                self.parts.append(f" ({href})" if text else href)

    def _line_break(self) -> None:
        """A block's edge: one line break, however many blocks meet there (a <br> always adds one)."""
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        """`<![keyword[`: the standard library raises AssertionError for a keyword it does not know (`<![x[`);
        such a section is skipped to its `>` as a bogus comment, the way browsers read it."""
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i)
            return -1 if end < 0 else end + 1


def _one_round(text: str) -> str:
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def html_to_text(text: str) -> str:
    """`text` (plain, HTML, or escaped HTML) as plain text with `\\n` line breaks (module docstring)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    for _ in range(_MAX_ROUNDS):
        if not _LOOKS_LIKE_HTML.search(text):
            break
        text = _one_round(text)
    return plain_text(text)


def plain_text(text: str) -> str:
    """`text` safe to print: line breaks as `\\n`, runs of blanks as one space, each line stripped, at most one
    empty line in a row, control characters (terminal escapes, bidi overrides) removed."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = _UNSAFE.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def one_line(text: str) -> str:
    """`plain_text` on a single line (a title): line breaks become spaces."""
    return " ".join(plain_text(text).split())
