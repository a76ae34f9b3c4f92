"""The benchmarks still run end to end (tiny sizes: these check that they work, not speed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench"


def run_bench(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio: \d+\.\d\d", last), done.stdout[-2000:]
    return done.stdout


def test_loop_overhead_runs() -> None:
    out = run_bench("loop_overhead.py", "--steps", "6", "--rounds", "1")
    assert "round 1: control plane" in out


def test_ssh_overhead_runs() -> None:  # it starts its own sshd on loopback
    out = run_bench("ssh_overhead.py", "--calls", "4", "--rounds", "2")
    assert "worst against the same work" in out
