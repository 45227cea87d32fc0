"""How fast the `mlgate` command starts, against a bare Python interpreter on the same machine.

    python bench/startup.py [--runs 15]

Runs `mlgate --version`, `mlgate --help`, `python -m mlgate --version` and `python -c pass`
`--runs` times each, taking turns (one of each per round, so a busy machine affects all alike),
and prints the median and the fastest wall time of each and the ratio of the medians to
`python -c pass`. The target is 0.5 s or less for `--version` and `--help` on the project's
machine (2 cores); the ratio is what carries over to another machine. A benchmark, not a test: it
asserts nothing (tests/test_layering.py holds what the command may import).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 0.5


def commands() -> dict[str, list[str]]:
    mlgate = shutil.which("mlgate") or str(Path(sys.executable).parent / "mlgate")
    if not Path(mlgate).exists():
        raise SystemExit("the `mlgate` command is not installed: pip install -e '.[dev]'")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "mlgate --version": [mlgate, "--version"],
        "mlgate --help": [mlgate, "--help"],
        "python -m mlgate --version": [sys.executable, "-m", "mlgate", "--version"],
    }


def time_once(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, timeout=60)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    args = parser.parse_args()
    if not 1 <= args.runs <= 1000:
        parser.error("--runs must be between 1 and 1000")
    cmds = commands()
    for argv in cmds.values():  # warm the file cache and the bytecode once, untimed
        time_once(argv)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(args.runs):
        for name, argv in cmds.items():
            times[name].append(time_once(argv))

    base = statistics.median(times["python -c pass"])
    print(f"startup, {args.runs} runs each ({sys.executable}, Python {sys.version.split()[0]})")
    print(f"{'command':<28} {'median s':>9} {'fastest s':>10} {'× python -c pass':>17}")
    for name, samples in times.items():
        median = statistics.median(samples)
        mark = "" if name == "python -c pass" or median <= TARGET_SECONDS else f"  over {TARGET_SECONDS} s"
        print(f"{name:<28} {median:>9.3f} {min(samples):>10.3f} {median / base:>17.1f}{mark}")


if __name__ == "__main__":
    main()
