"""Batch throughput: files per minute for a folder of short drum clips, per engine and worker count.

    python benchmarks/bench_batch.py [--files 20] [--seconds 5] [--processor larsnet]

Writes `--files` clips of a real drum loop (`--seconds` each), then times the whole `lars-service batch`
command until its JSON document is read (start-up, Ray's start for --engine ray, every file decoded,
separated and written) into a fresh output folder: the local engine with 1 and 2 workers, Ray with 1 and 2
workers, and, as the baseline, one `lars-service separate` process per file one after another. Also the
peak RSS of the largest process (the CLI or one local worker; not measured for Ray's actors). LarsNet
runs with the golden fixture's checkpoints (random weights of the official shapes: the same computation and
cost as the real weights). Prints a Markdown table and the machine's load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support import GOLDEN_MODELS, drum_clip  # noqa: E402  (the tests' real drum clip)

RUNS = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]


# Runs the service and prints, on its last stderr line, the peak RSS (KiB) of the largest process among it and
# its waited-for descendants (the CLI and its local workers; Ray's actors are the raylet's, not counted).
PEAK_RSS_WRAPPER = """
import resource, subprocess, sys
completed = subprocess.run(sys.argv[1:])
sys.stderr.write(f"\\n{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n")
sys.exit(completed.returncode)
"""


def run(arguments: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(seconds from spawning `python -m lars_service ARGUMENTS` until its success document is parsed,
    peak RSS in MiB of its largest process)."""
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", PEAK_RSS_WRAPPER, sys.executable, "-m", "lars_service", *arguments],
                               capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - started
    document = json.loads(completed.stdout)
    if completed.returncode != 0 or "error" in document:
        raise RuntimeError(f"{arguments[0]} failed: {completed.stdout}\n{completed.stderr[-2000:]}")
    return seconds, int(completed.stderr.split()[-1]) // 1024


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--files", type=int, default=20, help="clips in the folder (default 20)")
    options.add_argument("--seconds", type=float, default=5.0, help="length of each clip (default 5)")
    options.add_argument("--processor", default="larsnet", choices=("larsnet", "demucs-filter", "placeholder"))
    args = options.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    processor = ["--processor", args.processor] + (["--models-dir", str(GOLDEN_MODELS)] if args.processor == "larsnet" else [])
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / "takes"
        inputs.mkdir()
        clips = [drum_clip(inputs / f"take{index:02d}.wav", args.seconds) for index in range(args.files)]
        for engine, workers in RUNS:
            output_dir = Path(scratch) / f"{engine}-{workers}"
            seconds, peak = run(["batch", "--input-dir", str(inputs), "--output-dir", str(output_dir), "--engine", engine,
                                 "--workers", str(workers), *processor], env)
            rows.append((f"batch --engine {engine} --workers {workers}", seconds, peak if engine == "local" else None))
        per_file = [run(["separate", "--input", str(clip), "--output-dir", str(Path(scratch) / "per-file"), *processor], env)
                    for clip in clips]
        rows.append(("one `separate` process per file", sum(seconds for seconds, _ in per_file),
                     max(peak for _, peak in per_file)))
    print(f"{args.files} clips x {args.seconds:g} s, {args.processor}, {os.cpu_count()} cores; "
          f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}\n")
    print("| run | wall s | files/minute | audio x real time | peak RSS of one process, MiB |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, peak in rows:
        print(f"| {name} | {seconds:.1f} | {60 * args.files / seconds:.1f} | {args.files * args.seconds / seconds:.1f} "
              f"| {'–' if peak is None else peak} |")


if __name__ == "__main__":
    main()
