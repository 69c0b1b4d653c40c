"""Speed and balance of the synthetic drum set (lars_service.synthesis).

Prints: the time to load each kit selection (cold, in a fresh process: wall and CPU seconds; and again
from the in-memory cache), the examples per second that one core renders for 3 s crops (CPU time, so other load on the
machine counts less), and the share of crops in which each stem sounds (peak above -60 dBFS).

Run from the repository root:  python benchmarks/bench_synthesis.py [--examples N] [--selection NAME]
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from lars_service.larsnet import STEMS  # noqa: E402
from lars_service.synthesis.dataset import SyntheticDrums, load_kits  # noqa: E402

SOUNDING = 1e-3


def load_time(selection: str) -> tuple[float, float, float, int]:
    """(cold wall seconds and CPU seconds in a fresh process, cached seconds, kits) for one selection."""
    code = ("import sys, time; sys.path.insert(0, 'src'); from lars_service.synthesis.dataset import load_kits; "
            "t, c = time.perf_counter(), time.process_time(); "
            f"kits = load_kits({selection!r}); print(time.perf_counter() - t, time.process_time() - c, len(kits))")
    wall, cpu, count = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                                      check=True).stdout.split()
    load_kits(selection)
    started = time.perf_counter()
    load_kits(selection)
    return float(wall), float(cpu), time.perf_counter() - started, int(count)


def render_speed(selection: str, examples: int, augment: bool) -> tuple[float, float, np.ndarray]:
    """(examples per CPU second, per wall second, share of crops where each stem sounds) for 3 s crops."""
    dataset = SyntheticDrums(load_kits(selection), seed=0, crop_seconds=3.0, examples_per_epoch=examples, augment=augment)
    dataset[0]
    cpu, wall = time.process_time(), time.perf_counter()
    sounding = np.mean([np.abs(dataset[index][1]).max(axis=(1, 2)) > SOUNDING for index in range(examples)], axis=0)
    return examples / (time.process_time() - cpu), examples / (time.perf_counter() - wall), sounding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--selection", action="append", help="kit selections to measure (default: permissive, all, heldout)")
    arguments = parser.parse_args()
    selections = arguments.selection or ["permissive", "all", "heldout"]
    print("== loading kits ==")
    print(f"{'selection':<12} {'kits':>5} {'cold wall s':>12} {'cold CPU s':>11} {'cached s':>9}")
    for selection in selections:
        wall, cpu, cached, count = load_time(selection)
        print(f"{selection:<12} {count:>5} {wall:>12.2f} {cpu:>11.2f} {cached:>9.4f}")
    print(f"\n== rendering 3 s crops on one core ({arguments.examples} examples) ==")
    print(f"{'selection':<12} {'augment':>8} {'ex/CPU-s':>9} {'ex/wall-s':>10}  " + " ".join(f"{stem:>8}" for stem in STEMS))
    for selection in selections:
        for augment in (True, False):
            per_cpu, per_wall, sounding = render_speed(selection, arguments.examples, augment)
            shares = " ".join(f"{100 * share:>7.0f}%" for share in sounding)
            print(f"{selection:<12} {str(augment):>8} {per_cpu:>9.1f} {per_wall:>10.1f}  {shares}")


if __name__ == "__main__":
    main()
