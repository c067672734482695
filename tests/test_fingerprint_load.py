"""The Textual-free loader of the fingerprint screen (tui/fingerprint_load.py): reading the lists a connection
knows (a gone one forgotten, a failure saying how many were not read), which list is chosen, and the summary,
driven step by step and against the demo's SEPM simulator."""

from __future__ import annotations

import pytest

from helpers import FIXED_NOW, fixed_clock
from tui.demo import build_demo
from tui.fingerprint_load import FingerprintLoad, KnownRead, read_known
from tui.models import FingerprintList
from tui.session import Session
from tui.simulators.sepm import DEMO_BLOCKLIST_NAME, DEMO_FILES
from tui.state import StateStore
from tui.vendors.base import NetworkError

SHA = "A" * 64


def listing(id_: str, name: str, *hashes: str, description: str = "") -> FingerprintList:
    return FingerprintList(id=id_, name=name, hash_type="SHA256", source="WEBSERVICE", description=description,
                           hashes=hashes, group_ids=())


class Failing:
    """A console that answers for the first list it is asked for, then stops answering."""

    def __init__(self) -> None:
        self.asked = 0

    async def fingerprint_list_by_id(self, list_id: str) -> FingerprintList:
        self.asked += 1
        if self.asked > 1:
            raise NetworkError("The console did not answer.")
        return listing(list_id, f"list {list_id}")


def test_lists_are_shown_by_name_and_the_first_read_is_chosen() -> None:
    known = FingerprintLoad()
    known.start()
    assert known.take(KnownRead(listing=listing("2", "beta", SHA))) is True
    assert known.take(KnownRead(listing=listing("1", "Alpha"))) is False
    assert [item.name for item in known.lists] == ["Alpha", "beta"] and known.chosen is not None
    assert known.summary(None) == "2 known lists · beta: 1 hashes · "
    changed = listing("2", "beta", SHA, "B" * 64, description="IR case")
    assert known.opened(changed) is True and known.chosen is changed and len(known.lists) == 2
    assert known.row_of(listing("2", "renamed")) == 1 and known.row_of(listing("9", "other")) is None


def test_a_hash_looked_for_names_the_lists_that_hold_it() -> None:
    known = FingerprintLoad()
    known.start()
    for item in (listing("1", "Alpha"), listing("2", "beta", SHA)):
        known.take(KnownRead(listing=item))
    assert known.holding(None) == [0, 1] and known.holding(SHA) == [1]
    assert known.summary(SHA) == "AAAAAAAAAAAA… is on 1 of the 2 known lists: beta"
    assert known.summary("C" * 64) == ("CCCCCCCCCCCC… is on 0 of the 2 known lists (SEPM cannot search lists "
                                       "nobody opened: o opens one by name).")


def test_deleting_the_chosen_list_chooses_the_first_and_nothing_is_said_of_none() -> None:
    known = FingerprintLoad()
    known.start()
    first, second = listing("1", "Alpha"), listing("2", "beta")
    known.opened(second), known.opened(first)
    known.deleted(second)
    assert known.lists == [first] and known.chosen is first
    known.deleted(first)
    assert known.chosen is None
    assert known.summary(None) == "0 known lists. o opens a list by name; SEPM cannot list them all."


def test_reading_again_starts_empty_and_keeps_the_chosen_list() -> None:
    known = FingerprintLoad()
    known.start()
    chosen = listing("1", "Alpha")
    known.opened(chosen)
    known.take(KnownRead(unloaded=2))
    generation = known.generation
    known.start()
    assert known.generation == generation + 1 and known.lists == [] and known.unloaded == 0
    assert known.chosen is chosen


async def test_a_failed_read_says_how_many_lists_it_did_not_read_then_fails() -> None:
    state = StateStore(None)
    for id_ in "123":
        state.remember_list("lab", listing(id_, f"list {id_}"), now=FIXED_NOW)
    known = FingerprintLoad()
    known.start()
    with pytest.raises(NetworkError):
        async for read in read_known(Failing(), state, "lab"):
            known.take(read)
    assert len(known.lists) == 1 and known.unloaded == 2
    assert known.summary(None).startswith("1 known list (PARTIAL: 2 more not loaded, ctrl+r retries) · ")


async def test_the_demo_console_s_known_lists_are_read_and_a_gone_one_is_forgotten() -> None:
    demo = build_demo(20, now=FIXED_NOW)
    gone = listing("0" * 32, "Retired")
    demo.state.remember_list("demo-sepm", gone, now=FIXED_NOW)
    known_before = len(demo.state.known_lists("demo-sepm"))
    session = Session(demo.config, transports=demo.transports, clock=fixed_clock, state=demo.state)
    connection = demo.config.connections["demo-sepm"]
    known = FingerprintLoad()
    known.start()
    notices = []
    try:
        client = session.client_for(connection, connection.password)
        async for read in read_known(client, demo.state, "demo-sepm"):
            known.take(read)
            notices.append(read.notice())
    finally:
        await session.close()
    assert len(known.lists) == known_before - 1 and not known.unloaded
    assert [notice for notice in notices if notice] == ["The list 'Retired' is no longer on the console; forgotten."]
    assert gone.id not in {item.id for item in demo.state.known_lists("demo-sepm")}
    found = known.summary(DEMO_FILES[0].sha256)
    assert found == (f"{DEMO_FILES[0].sha256[:12]}… is on 1 of the {known_before - 1} known lists: "
                     f"{DEMO_BLOCKLIST_NAME}")
