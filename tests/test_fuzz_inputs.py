"""Fuzzing what a person types and the config file with hypothesis (issue 7): durations and RFC 3339 times of
an event window, file hashes, and config.toml. Each parses or raises its typed error (`ValueError` with a
sentence, `HashError`, `ConfigError` with the file's path), never another exception. Strategies: test_fuzz.py.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest
import tomli_w
from hypothesis import example, given
from hypothesis import strategies as st

from helpers import FIXED_NOW, TEXT, aware_utc, dicts_in
from tui.config import Config, ConfigError, load_config
from tui.hashes import FileHash, HashError, diff_hashes, parse_hash, parse_hashes
from tui.models import parse_duration, parse_time_bound, parse_timestamp

# --- event windows -----------------------------------------------------------------------------------------

DURATIONISH = st.one_of(TEXT, st.from_regex(r"\A\s?[0-9]{1,25}\s?[smhdwSMHDW]\s?\Z"))


@given(DURATIONISH)
@example("1000000000d")
@example("0001-01-01T00:00:00+01:00")
def test_durations_and_timestamps_parse_or_say_why(text):
    try:
        span = parse_duration(text)
    except ValueError:
        span = None
    assert span is None or isinstance(span, timedelta)
    for parse in (parse_timestamp, lambda value: parse_time_bound(value, FIXED_NOW)):
        try:
            moment = parse(text)
        except ValueError as error:
            assert str(error)
        else:
            assert aware_utc(moment)


# --- hashes ------------------------------------------------------------------------------------------------

HEXISH = st.one_of(TEXT, st.text(alphabet="0123456789abcdefABCDEF \t", min_size=30, max_size=66))


@given(HEXISH, st.booleans())
def test_hashes_parse_or_raise_hash_error(text, allow_sha1):
    try:
        parsed = parse_hash(text, allow_sha1=allow_sha1)
    except HashError as error:
        assert str(error)
    else:
        assert isinstance(parsed, FileHash) and parsed.value == text.strip().upper()


@given(st.lists(HEXISH, max_size=4), st.lists(HEXISH, max_size=4))
def test_hash_lists_and_diffs(old, new):
    try:
        parse_hashes(old)
    except HashError:
        pass
    assert diff_hashes(old, new).summary()


# --- config.toml -------------------------------------------------------------------------------------------

TOML_SCALARS = st.one_of(st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), TEXT,
                       st.floats(allow_nan=False))
TOML_VALUES = st.recursive(TOML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)
REAL_CONFIG = {
    "settings": {"theme": "textual-dark", "clipboard": "auto", "page_concurrency": 4, "auto_refresh": 0},
    "connections": {
        "prod-sepm": {"vendor": "sepm", "url": "https://sepm.example.internal:8446", "username": "api-reader",
                      "domain": "", "password_env": "SEPM_PASSWORD", "verify": "~/corp-ca.pem", "read_only": True},
        "mdm": {"vendor": "epmm", "url": "https://epmm.example.com", "username": "api-user",
                "password_command": "pass show epmm", "device_space_id": 1, "connected_cloud": False},
        "elements": {"vendor": "elements", "url": "https://api.connect.withsecure.com",
                     "username": "fusion_0123456789abcdef", "password_env": "ELEMENTS_SECRET", "allow_http": False},
    },
}


@st.composite
def config_files(draw: st.DrawFn) -> bytes:
    """The README's example config with values replaced by any TOML value, or its text cut and spliced."""
    data = copy.deepcopy(REAL_CONFIG)
    for _ in range(draw(st.integers(1, 4))):
        table = draw(st.sampled_from(dicts_in(data)))
        key = draw(st.one_of(st.sampled_from(sorted(table) or ["x"]), st.text(max_size=8)))
        table[key] = draw(st.one_of(TOML_VALUES, st.sampled_from(["~nosuchuser/ca.pem", "~", "\x00", "http://x",
                                                                  "https://[::1", "https://h:99999", "'unclosed"])))
    text = tomli_w.dumps(data)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.one_of(TEXT, st.sampled_from(["[", "]]", "\n[connections.x]\n", "= ", '"']))) + text[cut:]
    return text.encode("utf-8", "surrogatepass") + draw(st.sampled_from([b"", b"\xff"]))


@pytest.fixture(scope="module")
def config_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config") / "config.toml"


@given(body=config_files())
@example(body=b'[connections.a]\nvendor = "sepm"\nurl = "https://x"\nusername = "u"\nverify = "~nosuchuser/ca.pem"\n')
def test_config_loads_or_says_where(config_path, body):
    config_path.write_bytes(body)
    try:
        loaded = load_config(config_path)
    except ConfigError as error:
        assert error.path == config_path and str(error)
    else:
        assert isinstance(loaded, Config)
