"""Hash input as a responder pastes it: MD5 (32) or SHA-256 (64) hex in any case, compared upper-case;
SHA-1 only where asked for; the difference a fingerprint-list update makes."""

from __future__ import annotations

import pytest

from tui.hashes import MD5, SHA1, SHA256, HashError, diff_hashes, parse_hash, parse_hashes, same_hash

MD5_LOWER = "582f9b6e0cc4c1dbbd772aaaf088cb3a"
SHA256_MIXED = "e4AC4548eeebdba19817b5c47322f0c95a17a9ef6af4099088d6e552f34038D9"
SHA1_LOWER = "3c6250da5edf6b2e8d1a3930aa97a444bf3ba3de"


@pytest.mark.parametrize(("text", "kind"), [
    (MD5_LOWER, MD5),
    (MD5_LOWER.upper(), MD5),
    (f"  {SHA256_MIXED}\n", SHA256),
])
def test_md5_and_sha256_in_any_case_become_upper_case(text, kind):
    parsed = parse_hash(text)
    assert parsed.type == kind
    assert parsed.value == text.strip().upper()
    assert str(parsed) == parsed.value


@pytest.mark.parametrize(("text", "words"), [
    ("", "No hash given"),
    ("   ", "No hash given"),
    (MD5_LOWER[:-1], "31 hexadecimal digits"),
    (MD5_LOWER + "0", "33 hexadecimal digits"),
    ("g" * 32, "not a hash"),
    (MD5_LOWER[:16] + " " + MD5_LOWER[16:], "not a hash"),
    ("0x" + MD5_LOWER[2:], "not a hash"),
    (SHA1_LOWER, "SHA-1, which is not accepted here"),
    ("a" * 200, "..."),
])
def test_anything_else_is_refused_in_one_sentence(text, words):
    with pytest.raises(HashError) as caught:
        parse_hash(text)
    message = str(caught.value)
    assert words in message
    assert "MD5 (32 hexadecimal digits)" in message or "No hash given" in message
    assert len(message) < 200


def test_sha1_only_when_allowed():
    parsed = parse_hash(SHA1_LOWER, allow_sha1=True)
    assert (parsed.type, parsed.value, parsed.label) == (SHA1, SHA1_LOWER.upper(), "SHA-1")


def test_several_hashes_without_duplicates_in_first_order():
    parsed = parse_hashes([SHA256_MIXED, MD5_LOWER, MD5_LOWER.upper(), SHA256_MIXED.lower()])
    assert [item.type for item in parsed] == [SHA256, MD5]


def test_same_hash_ignores_case_and_blanks():
    assert same_hash(MD5_LOWER, f" {MD5_LOWER.upper()} ")
    assert not same_hash(MD5_LOWER, SHA256_MIXED)


def test_diff_of_an_update():
    old = ["AA" * 16, "BB" * 16, "CC" * 16]
    new = ["cc" * 16, "dd" * 16, "AA" * 16, "dd" * 16]

    diff = diff_hashes(old, new)

    assert diff.added == ("DD" * 16,)
    assert diff.removed == ("BB" * 16,)
    assert diff.kept == ("AA" * 16, "CC" * 16)
    assert diff.changed and diff.summary() == "1 added, 1 removed, 2 kept"
    assert diff_hashes(old, [value.lower() for value in old]).summary() == "no change"
