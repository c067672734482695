"""Benchmark: how soon `epx` shows its first interactive frame, against a bare Textual app with a header and a
footer, in the same run (issue 16, target: within 1.3x).

Each start is a fresh Python process, timed from the parent's spawn to the child's first frame (headless,
through Textual's `auto_pilot`, which writes the moment to stderr and exits): interpreter start, imports,
config, the first screen. The exit that follows is timed apart: it is not part of the first frame.
`epx` is started as a user starts it, through `tui.cli.main`, with a config of three connections (the
everyday start) and with `--demo` (which builds three simulated consoles first). The best of N runs each.
Not a timed test: run it by hand,

    .venv/bin/python tests/bench/bench_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_FRAME = """
import sys
import time
from textual.app import App

def first_frame_then_exit(run):
    async def pilot(driver):
        await driver.pause()
        print(f"first frame at {time.time()!r}", file=sys.stderr)
        driver.app.exit()
    return lambda self, **options: run(self, headless=True, auto_pilot=pilot)

App.run = first_frame_then_exit(App.run)
"""

BARE = FIRST_FRAME + """
from textual.widgets import Footer, Header

class Bare(App):
    def compose(self):
        yield Header()
        yield Footer()

Bare().run()
"""

EPX = FIRST_FRAME + """
from tui.cli import main
sys.exit(main(sys.argv[1:]))
"""

CONFIG = """
[connections.sepm]
vendor = "sepm"
url = "https://sepm.example:8446"
username = "admin"

[connections.epmm]
vendor = "epmm"
url = "https://epmm.example"
username = "api"

[connections.elements]
vendor = "elements"
url = "https://api.connect.withsecure.com"
username = "client-id"
"""


def best_start(code: str, args: list[str], runs: int) -> tuple[float, float, float]:
    """The fastest and the median time to the first frame of `runs` starts, and the median to the exit, in s."""
    frames, exits = [], []
    for _ in range(runs):
        started = time.time()
        done = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
        exits.append(time.time() - started)
        stamp = re.search(r"first frame at (\S+)", done.stderr)
        assert stamp is not None, done.stderr
        frames.append(float(stamp.group(1)) - started)
    return min(frames), statistics.median(frames), statistics.median(exits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as home:
        config = Path(home) / "config.toml"
        config.write_text(CONFIG)
        config.chmod(0o600)
        bare = best_start(BARE, [], runs)
        figures = {
            "epx (3 connections)": best_start(EPX, ["--config", str(config)], runs),
            "epx --demo": best_start(EPX, ["--demo"], runs),
        }
    print(f"first frame, best / median of {runs} starts (and the median to the process's exit)")
    print(f"  bare Textual app (Header, Footer)   {bare[0] * 1000:6.0f} / {bare[1] * 1000:6.0f} ms"
          f"   (exit {bare[2] * 1000:4.0f} ms)")
    for name, (best, median, exited) in figures.items():
        print(f"  {name:<35} {best * 1000:6.0f} / {median * 1000:6.0f} ms   (exit {exited * 1000:4.0f} ms)"
              f"   {best / bare[0]:.2f}x the bare app (median {median / bare[1]:.2f}x)")


if __name__ == "__main__":
    main()
