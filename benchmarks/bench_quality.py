"""Separation quality and cost of the weight-free NMFD separator against its baselines.

Prints, for the benchmark set built from ../shared/kits/dev (all one-shots, and the held-out
split), per-stem and mean SDR and SI-SDR of: nmfd, the seed's band-pass cut, a fifth of the
mixture, and the ideal ratio mask (n_fft 4096, hop 1024). Then the real-time factor and peak
resident memory of nmfd on a 60 s and a 10 min input, each measured in its own subprocess.

Run from the repository root:  python benchmarks/bench_quality.py [--clips N] [--seconds S]
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from src.baselines import bandpass_split, fifth_of_mixture, ideal_ratio_mask  # noqa: E402
from src.benchset import build_benchmark_set, load_one_shots, render_clip  # noqa: E402
from src.evaluation import average_results, evaluate, format_table  # noqa: E402
from src.nmfd import separate_drums  # noqa: E402

KITS_DIR = REPO_ROOT.parent / "shared" / "kits"
TORCH_THREADS = 2
COST_INPUT_SECONDS = (60.0, 600.0)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("VmHWM not found in /proc/self/status")


def score_methods(split: str, n_clips: int, seconds: float) -> dict[str, dict]:
    """Average per-stem scores of every method over the clips of one split."""
    clips = build_benchmark_set(KITS_DIR, n_clips=n_clips, seconds=seconds, seed=0, split=split)
    methods = {
        "nmfd": lambda clip: separate_drums(clip.mixture, clip.sample_rate),
        "bandpass": lambda clip: bandpass_split(clip.mixture, clip.sample_rate),
        "fifth": lambda clip: fifth_of_mixture(clip.mixture),
        "ideal_ratio_mask": lambda clip: ideal_ratio_mask(clip.stems, clip.mixture, n_fft=4096, hop=1024),
    }
    return {
        name: average_results([evaluate(clip.stems, separate(clip)) for clip in clips])
        for name, separate in methods.items()
    }


def measure_cost(seconds: float) -> dict:
    """In this process: separate a groove of `seconds` and return wall time, RTF and memory."""
    torch.set_num_threads(TORCH_THREADS)
    one_minute = render_clip(load_one_shots(KITS_DIR), min(seconds, 60.0), seed=12345, name="cost").mixture
    repeats = int(np.ceil(seconds * 44100 / one_minute.shape[1]))
    mixture = np.tile(one_minute, (1, repeats))[:, : int(round(seconds * 44100))]
    rss_before = peak_rss_mib()
    start = time.perf_counter()
    separate_drums(mixture, 44100)
    wall = time.perf_counter() - start
    return {
        "seconds": seconds,
        "wall_s": wall,
        "rtf": wall / seconds,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": rss_before,
        "input_output_mib": mixture.nbytes * 6 / 2**20,
    }


def measure_cost_in_subprocess(seconds: float) -> dict:
    """Run `measure_cost` in a fresh interpreter so its peak memory is its own."""
    completed = subprocess.run(
        [sys.executable, __file__, "--measure-cost", str(seconds)], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--measure-cost", type=float, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure_cost is not None:
        print(json.dumps(measure_cost(arguments.measure_cost)))
        return
    torch.set_num_threads(TORCH_THREADS)
    for split in ("all", "heldout"):
        scores = score_methods(split, arguments.clips, arguments.seconds)
        print(f"\n== split '{split}': {arguments.clips} clips x {arguments.seconds:g} s, seed 0 ==")
        print(format_table(scores, "sdr"))
        print()
        print(format_table(scores, "si_sdr"))
    print(f"\n== nmfd cost ({TORCH_THREADS} torch threads) ==")
    print(f"{'input':>8} {'wall s':>8} {'RTF':>7} {'peak RSS MiB':>13} {'RSS before MiB':>15} {'in+out MiB':>11}")
    for seconds in COST_INPUT_SECONDS:
        cost = measure_cost_in_subprocess(seconds)
        print(
            f"{cost['seconds']:>7g}s {cost['wall_s']:>8.1f} {cost['rtf']:>7.3f} {cost['peak_rss_mib']:>13.0f}"
            f" {cost['rss_before_mib']:>15.0f} {cost['input_output_mib']:>11.0f}"
        )


if __name__ == "__main__":
    main()
