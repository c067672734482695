"""Two epx processes saving config.toml at once: the lock file keeps the file whole, a change made by the other
process is merged when it touches another connection and refused, in a sentence, when it touches the same one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui import config as config_module
from tui.config import Config, ConfigConflictError, ConfigError, load_config, save_config
from tui.models import Connection

SAVES_PER_PROCESS = 60
WAIT = 120.0  # a generous bound for two processes' saves on a busy machine


def profile(name: str, username: str = "reader") -> Connection:
    return Connection(name=name, vendor="sepm", url=f"https://{name}.example.internal:8446", username=username)


def start_file(path: Path, *names: str) -> None:
    config = load_config(path)
    for name in names:
        config.connections[name] = profile(name)
    save_config(config)


SAVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tui.config import load_config, save_config
    from tui.models import Connection

    path, name, times = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    config = load_config(path)  # loaded once: every later save meets the other process's saves
    print("ready", flush=True)
    sys.stdin.readline()  # both start saving together
    for number in range(times):
        if number:  # the other process merged into its saves, so what this one saved last is still there
            kept = load_config(path).connections[name].username
            assert kept == f"user-{number - 1}", f"{name}: user-{number - 1} was lost, the file holds {kept}"
        config.connections[name] = Connection(name=name, vendor="sepm", url="https://" + name + ".example:8446",
                                              username=f"user-{number}")
        save_config(config, changed={name})
""")


def test_two_processes_saving_different_connections_keep_both(tmp_path: Path):
    path = tmp_path / "config.toml"
    start_file(path, "kept")
    savers = [subprocess.Popen([sys.executable, "-c", SAVER, str(path), name, str(SAVES_PER_PROCESS)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for name in ("alpha", "beta")]
    for saver in savers:
        assert saver.stdout.readline() == "ready\n"
    for saver in savers:
        saver.stdin.write("go\n")
        saver.stdin.close()
    for saver in savers:
        assert saver.wait(timeout=WAIT) == 0, saver.stderr.read()

    final = load_config(path)
    assert list(final.connections) == ["kept", "alpha", "beta"] or list(final.connections) == ["kept", "beta", "alpha"]
    last = f"user-{SAVES_PER_PROCESS - 1}"
    assert final.connections["alpha"].username == last and final.connections["beta"].username == last
    assert not [leftover for leftover in tmp_path.iterdir() if leftover.suffix == ".tmp"]


def test_a_change_to_another_connection_is_merged_into_the_save_and_into_memory(tmp_path: Path):
    path = tmp_path / "config.toml"
    start_file(path, "one", "two", "gone")
    mine, theirs = load_config(path), load_config(path)
    theirs.connections["two"].username = "changed-by-them"
    del theirs.connections["gone"]
    theirs.connections["new"] = profile("new")
    save_config(theirs, changed={"two", "gone", "new"})

    mine.connections["one"].username = "changed-by-me"
    save_config(mine, changed={"one"})

    on_disk = load_config(path)
    assert on_disk == mine
    assert list(on_disk.connections) == ["one", "two", "new"]
    assert (on_disk.connections["one"].username, on_disk.connections["two"].username) == (
        "changed-by-me", "changed-by-them")


def test_a_rename_keeps_its_place_and_merges(tmp_path: Path):
    path = tmp_path / "config.toml"
    start_file(path, "one", "two")
    mine, theirs = load_config(path), load_config(path)
    theirs.connections["three"] = profile("three")
    save_config(theirs, changed={"three"})

    mine.connections = {"uno" if name == "one" else name: conn for name, conn in mine.connections.items()}
    mine.connections["uno"].name = "uno"
    save_config(mine, changed={"one", "uno"})

    assert list(load_config(path).connections) == ["uno", "two", "three"]


@pytest.mark.parametrize("their_change", ["edit", "delete"])
def test_the_same_connection_changed_by_both_is_refused_and_nothing_is_written(tmp_path: Path, their_change: str):
    path = tmp_path / "config.toml"
    start_file(path, "shared", "other")
    mine, theirs = load_config(path), load_config(path)
    if their_change == "edit":
        theirs.connections["shared"].username = "theirs"
    else:
        del theirs.connections["shared"]
    save_config(theirs, changed={"shared"})
    written = path.read_bytes()

    mine.connections["shared"].username = "mine"
    with pytest.raises(ConfigConflictError) as caught:
        save_config(mine, changed={"shared"})

    assert "the config file changed since it was loaded" in str(caught.value)
    assert "reload with ctrl+r" in str(caught.value) and "nothing was written" in str(caught.value)
    assert path.read_bytes() == written


def loaded_before_another_process_added_two(path: Path) -> Config:
    """The config as this process loaded it ("one"), after which another process saved "two"."""
    start_file(path, "one")
    mine, theirs = load_config(path), load_config(path)
    theirs.connections["two"] = profile("two")
    save_config(theirs, changed={"two"})
    return mine


def test_a_save_that_does_not_say_what_it_changed_is_refused_after_another_save(tmp_path: Path):
    path = tmp_path / "config.toml"
    mine = loaded_before_another_process_added_two(path)

    mine.settings.theme = "nord"
    with pytest.raises(ConfigConflictError):
        save_config(mine)
    assert "two" in load_config(path).connections


def test_settings_changed_here_are_kept_when_another_process_added_a_connection(tmp_path: Path):
    path = tmp_path / "config.toml"
    mine = loaded_before_another_process_added_two(path)

    mine.settings.theme = "nord"
    mine.connections["one"].username = "me"
    save_config(mine, changed={"one"})

    on_disk = load_config(path)
    assert (on_disk.settings.theme, list(on_disk.connections)) == ("nord", ["one", "two"])


HOLDER = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(600)
""")


def hold_lock(path: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path.with_name(path.name + ".lock"))],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


def test_a_lock_held_by_a_live_process_is_waited_for_then_reported(tmp_path: Path, monkeypatch):
    path = tmp_path / "config.toml"
    start_file(path, "one")
    config = load_config(path)
    config.connections["one"].username = "blocked"
    monkeypatch.setattr(config_module, "LOCK_WAIT_S", 0.3)
    holder = hold_lock(path)
    try:
        with pytest.raises(ConfigError) as caught:
            save_config(config, changed={"one"})
    finally:
        holder.kill()
        holder.wait(timeout=WAIT)

    assert "another epx process is saving it" in str(caught.value) and "nothing was written" in str(caught.value)
    assert load_config(path).connections["one"].username == "reader"


def test_the_lock_of_a_dead_process_does_not_block(tmp_path: Path, monkeypatch):
    path = tmp_path / "config.toml"
    start_file(path, "one")
    config = load_config(path)
    config.connections["one"].username = "after-the-crash"
    holder = hold_lock(path)
    holder.kill()  # SIGKILL: no clean-up ran, the lock file stays behind
    holder.wait(timeout=WAIT)
    monkeypatch.setattr(config_module, "LOCK_WAIT_S", 0)  # one try: the lock must be free at once

    save_config(config, changed={"one"})

    assert path.with_name("config.toml.lock").exists()
    assert load_config(path).connections["one"].username == "after-the-crash"
