"""A warm `serve` session against a process per file: time to result for a 5 s drum clip.

    python benchmarks/bench_serve.py [--runs 10] [--processors demucs-filter,larsnet]

For each processor, separates the same 5 s clip of a real drum loop `--runs` times, all five stems, the way
a host app does it through the thin client (src/lars_service/client.py):
- process per file: `separate_drum_stems`, one `lars-service separate` process per file (imports and
  weights every time);
- session: one `LarsSession` (`lars-service serve`), its first request paying the server's start.
Each time is from the call until its result is back. `larsnet` runs the golden fixture checkpoints
(random weights, the official architecture and cost). Prints a Markdown table and the load average.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "src"))
from support import GOLDEN_MODELS, drum_clip  # noqa: E402  (the tests' real drum clip)

from lars_service import client  # noqa: E402

CLIP_SECONDS = 5.0
PROCESSOR_OPTIONS = {"demucs-filter": {"processor": "demucs-filter"},
                     "larsnet": {"processor": "larsnet", "models_dir": GOLDEN_MODELS}}


def timed_runs(separate: Callable[..., client.SeparationResult], clip: Path, output_dir: Path, runs: int,
               options: dict) -> list[float]:
    """Seconds from each call to its result, `runs` calls in a row."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = separate(clip, output_dir, **options)
        seconds.append(time.perf_counter() - started)
        assert len(result.stems.as_dict()) == 5
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--processors", default=",".join(PROCESSOR_OPTIONS))
    args = parser.parse_args()
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        clip = drum_clip(Path(scratch) / "clip.wav", CLIP_SECONDS)
        for processor in args.processors.split(","):
            options = PROCESSOR_OPTIONS[processor]
            per_file = timed_runs(client.separate_drum_stems, clip, Path(scratch) / "per-file", args.runs, options)
            with client.LarsSession() as session:
                warm = timed_runs(session.separate, clip, Path(scratch) / "session", args.runs, options)
            for way, seconds in (("process per file", per_file), ("session (serve)", warm)):
                rows.append((processor, way, seconds[0], seconds[-1], statistics.median(seconds[1:]), sum(seconds)))
    print(f"| processor | way | 1st request s | {args.runs}th request s | median of 2nd-{args.runs}th s | "
          f"{args.runs} files s |")
    print("|---|---|---|---|---|---|")
    for processor, way, first, last, median, total in rows:
        print(f"| {processor} | {way} | {first:.2f} | {last:.2f} | {median:.2f} | {total:.1f} |")
    print(f"\nload average (1 min) before: {load_before[0]:.2f}, after: {os.getloadavg()[0]:.2f}; "
          f"{os.cpu_count()} CPUs; clip {CLIP_SECONDS:g} s, all five stems, 24-bit WAV")


if __name__ == "__main__":
    main()
