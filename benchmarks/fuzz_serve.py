"""The long hunt: `serve`'s hostile-input properties (tests/test_serve_hostile.py) under the `fuzz` profile.

    python benchmarks/fuzz_serve.py [--seed N]

Runs the property tests with fresh random examples: the profile's 2000 (tests/conftest.py) for the
one-session property, a twentieth of that with a server per example; about ten minutes on a quiet core. A failure prints the shrunk lines and a blob that
reproduces it (`@reproduce_failure`); the exit status is pytest's.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, help="Hypothesis seed, to repeat a run (default: random)")
    args = parser.parse_args()
    environment = {**os.environ, "HYPOTHESIS_PROFILE": "fuzz",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    seed = ["--hypothesis-seed", str(args.seed)] if args.seed is not None else []
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics", *seed,
               "tests/test_serve_hostile.py", "-k", "every_line or end_of_input"]
    return subprocess.run(command, cwd=REPO, env=environment).returncode


if __name__ == "__main__":
    sys.exit(main())
