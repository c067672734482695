"""The benchmarks of tests/bench still run: each once, small enough to take seconds, to the end of its report.

Nothing here looks at a figure (a benchmark is never a timed test); it catches a benchmark that no longer runs
against the code it measures (a changed signature, a renamed option), which would otherwise wait to be found until
the next time someone ran it by hand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent / "bench"
RUNS = {
    "bench_table.py": (["--size", "600", "--paths", "line API,DataTable"], "RSS"),
    "bench_million.py": (["--size", "150"], "RSS"),
    "bench_fleet.py": (["--size", "400"], "elements  demo fleet of 400 in the UI"),
    "bench_paging.py": (["--size", "600", "--latency", "5"], "elements  sequential bound"),
    "bench_parse.py": (["--size", "600", "--rounds", "1"], "elements "),
    "bench_timeline.py": (["--events", "400", "--size", "800"], "targets: first rows"),
    "bench_start.py": (["--runs", "1"], "epx --demo"),
    "bench_snapshots.py": (["--size", "600"], "coverage of 4 consoles"),
}
"""Each benchmark's arguments for a run of seconds, and words of its report's last figure."""


def test_every_benchmark_is_run_here() -> None:
    assert sorted(RUNS) == sorted(path.name for path in BENCH.glob("bench_*.py"))


@pytest.mark.parametrize("script", sorted(RUNS))
def test_the_benchmark_runs_to_its_report(script: str) -> None:
    arguments, last_figure = RUNS[script]
    run = subprocess.run([sys.executable, str(BENCH / script), *arguments], capture_output=True, text=True,
                         timeout=240, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert last_figure in run.stdout, run.stdout[-3000:]
