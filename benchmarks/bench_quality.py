"""Separation quality and cost of the weight-free NMFD separator against its baselines.

Prints, for the benchmark set built from ../shared/kits/dev (all one-shots, and the held-out
split), per-stem and mean SDR and SI-SDR of: nmfd, the seed's band-pass cut, a fifth of the
mixture, and the ideal ratio mask (n_fft 4096, hop 1024). Then the real-time factor and peak
resident memory of `lars-service separate --processor demucs-filter` on a 60 s and a 10 min input.

Run from the repository root:  python benchmarks/bench_quality.py [--clips N] [--seconds S]
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch

from bench_inference import run_cli_measured

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from lars_service.evaluation.baselines import bandpass_split, fifth_of_mixture, ideal_ratio_mask  # noqa: E402
from lars_service.evaluation.benchset import build_benchmark_set, render_clip, split_kit  # noqa: E402
from lars_service.evaluation.metrics import average_results, evaluate, format_table  # noqa: E402
from lars_service.fallback.nmfd import separate_drums  # noqa: E402

KITS_DIR = REPO_ROOT.parent / "shared" / "kits"
TORCH_THREADS = 2
COST_INPUT_SECONDS = (60.0, 600.0)


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
    """Separate a groove of `seconds` with `lars-service separate --processor demucs-filter` in a fresh
    process (the real streaming path: decode, NMFD block by block, write) and return its wall time,
    compute real-time factor and peak memory."""
    one_minute = render_clip(split_kit(KITS_DIR), min(seconds, 60.0), seed=12345, name="cost").mixture
    repeats = int(np.ceil(seconds * 44100 / one_minute.shape[1]))
    mixture = np.tile(one_minute, (1, repeats))[:, : int(round(seconds * 44100))]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "groove.wav"
        soundfile.write(path, mixture.T, 44100, subtype="PCM_16")
        del mixture
        document, wall, peak = run_cli_measured(
            ["separate", "-i", str(path), "-o", str(Path(scratch) / "out"), "--processor", "demucs-filter", "--drum-isolation", "off"]
        )
    return {"seconds": seconds, "wall_s": wall, "rtf": document["timings"]["compute"] / seconds, "peak_rss_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    arguments = parser.parse_args()
    torch.set_num_threads(TORCH_THREADS)
    for split in ("all", "heldout"):
        scores = score_methods(split, arguments.clips, arguments.seconds)
        print(f"\n== split '{split}': {arguments.clips} clips x {arguments.seconds:g} s, seed 0 ==")
        print(format_table(scores, "sdr"))
        print()
        print(format_table(scores, "si_sdr"))
    print("\n== demucs-filter cost: the whole `separate` process (decode, NMFD, write 24-bit WAV) ==")
    print(f"{'input':>8} {'wall s':>8} {'RTF':>7} {'peak RSS MiB':>13}")
    for seconds in COST_INPUT_SECONDS:
        cost = measure_cost(seconds)
        print(f"{cost['seconds']:>7g}s {cost['wall_s']:>8.1f} {cost['rtf']:>7.3f} {cost['peak_rss_mib']:>13.0f}")


if __name__ == "__main__":
    main()
