"""`RawPage`: a page body kept compressed, decoded on demand, the last pages decoded kept; `Device.raw` on top."""

from __future__ import annotations

import lz4.block
import orjson
import pytest

import tui.models as models
from tui.models import Device, RawPage

RECORDS = [{"id": index, "name": f"host-{index}", "tags": ["a", None, True], "score": 1.5} for index in range(50)]


def page_of(records: list, key: str = "content", **rest) -> RawPage:
    return RawPage.compress(orjson.dumps({**rest, key: records}), key)


@pytest.fixture
def decodes(monkeypatch) -> list[bytes]:
    """Every page body decompressed from now on; the decoded-page cache starts empty."""
    seen: list[bytes] = []
    real = lz4.block.decompress

    def decompress(data: bytes) -> bytes:
        seen.append(data)
        return real(data)

    monkeypatch.setattr(models, "_decoded", ())
    monkeypatch.setattr(models.lz4.block, "decompress", decompress)
    return seen


def test_a_record_comes_back_as_the_console_sent_it():
    page = page_of(RECORDS, "results", totalCount=50, hasMore=False)

    assert [page.record(index) for index in range(50)] == RECORDS
    assert page.record(-1) == RECORDS[-1]
    with pytest.raises(IndexError):
        page.record(50)


def test_the_page_is_kept_compressed():
    body = orjson.dumps({"items": RECORDS})
    page = RawPage.compress(body, "items")

    assert len(page._compressed.result()) < len(body) / 4


def test_the_records_of_one_page_are_decoded_once(decodes):
    page = page_of(RECORDS)

    first, again = page.record(3), page.record(40)

    assert (first, again) == (RECORDS[3], RECORDS[40])
    assert len(decodes) == 1


def test_the_last_two_pages_decoded_are_kept(decodes):
    one, two, three = page_of(RECORDS[:10]), page_of(RECORDS[10:20]), page_of(RECORDS[20:])

    for page in (one, two, one, two):
        page.record(0)
    assert len(decodes) == 2
    three.record(0)
    two.record(0)
    assert len(decodes) == 3
    one.record(0)  # pushed out by three
    assert len(decodes) == 4


def test_a_page_of_records_in_memory_keeps_them_as_they_are(decodes):
    page = RawPage.of(RECORDS)

    assert page.record(7) == RECORDS[7]
    assert decodes == []


def test_a_device_reads_its_record_through_the_page():
    page = page_of([{"skipped": True}, {"id": "a"}, {"id": "b"}])
    device = Device(vendor="sepm", connection="c", id="b", name="b", raw_page=page, raw_index=2)

    assert device.raw == {"id": "b"}
    assert "raw" not in repr(device)


def test_a_device_without_a_page_has_an_empty_raw_record():
    device = Device(vendor="sepm", connection="c", id="x", name="x")

    assert device.raw == {}
    assert device.to_json()["id"] == "x"
