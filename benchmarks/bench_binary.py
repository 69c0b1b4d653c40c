"""One-file versus one-folder: build time, size on disk, and start-up to the JSON for a 2 s drum clip.

    python benchmarks/bench_binary.py [--runs 3] [--keep DIR]

Builds both variants from lars-service.spec into a scratch directory (from scratch: no PyInstaller cache
of this build), then times `lars-service separate` of a 2 s clip of a real drum loop until its JSON
document is read, `--runs` times per variant and processor (the first run after the build comes first;
page caches are not dropped, so later runs are warm), with `python -m lars_service` as the baseline.
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support import GOLDEN_MODELS, drum_clip  # noqa: E402  (the tests' real drum clip)

VARIANTS = {"one-folder": [], "one-file": ["--", "--onefile"]}


def build(variant: str, scratch: Path) -> tuple[Path, float, int]:
    """Build `variant` into scratch; returns (binary, build seconds, bytes on disk)."""
    dist, work = scratch / f"dist-{variant}", scratch / f"build-{variant}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "ERROR", "--distpath", str(dist),
                    "--workpath", str(work), str(REPO / "lars-service.spec"), *VARIANTS[variant]], cwd=REPO, check=True)
    seconds = time.perf_counter() - started
    output = dist / "lars-service"
    files = [path for path in output.rglob("*") if path.is_file() and not path.is_symlink()] if output.is_dir() else [output]
    size = sum(path.stat().st_size for path in files)
    binary = output / "lars-service" if output.is_dir() else output
    return binary, seconds, size


def time_to_json(command: list[str], clip: Path, output_dir: Path, processor_arguments: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning the service until its success document is parsed."""
    started = time.perf_counter()
    completed = subprocess.run([*command, "separate", "--input", str(clip), "--output-dir", str(output_dir), *processor_arguments],
                               capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - started
    document = json.loads(completed.stdout)
    if completed.returncode != 0 or "error" in document:
        raise RuntimeError(f"{command} failed: {completed.stdout}\n{completed.stderr[-2000:]}")
    return seconds


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--runs", type=int, default=3, help="timed runs per variant and processor (default 3)")
    options.add_argument("--keep", type=Path, help="build into this directory and keep it (default: a temporary one)")
    arguments = options.parse_args()
    scratch = arguments.keep or Path(tempfile.mkdtemp(prefix="lars-bench-binary-"))
    scratch.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key != "LARS_MODELS_DIR"}
    env.update(XDG_DATA_HOME=str(scratch / "data-home"), PYTHONPATH=str(REPO / "src"))
    clip = drum_clip(scratch / "amen_2s.wav", 2.0)
    processors = {
        "demucs-filter": ["--processor", "demucs-filter"],
        "larsnet (5 U-Nets, golden weights)": ["--processor", "larsnet", "--models-dir", str(GOLDEN_MODELS)],
    }
    commands: dict[str, tuple[list[str], str, str]] = {"python -m lars_service": ([sys.executable, "-m", "lars_service"], "-", "-")}
    try:
        for variant in VARIANTS:
            binary, seconds, size = build(variant, scratch)
            commands[variant] = ([str(binary)], f"{seconds:.0f} s", f"{size / 2**20:.0f} MiB")
        print(f"\n{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, clip {clip.name} (2.0 s stereo 44.1 kHz), "
              f"{arguments.runs} runs each: first run after the build, then median of all\n")
        print("| variant | build time | size | processor | first run to JSON | median to JSON |")
        print("|---|---|---|---|---|---|")
        for name, (command, build_time, size) in commands.items():
            for processor, processor_arguments in processors.items():
                times = [time_to_json(command, clip, scratch / "out", processor_arguments, env) for _ in range(arguments.runs)]
                print(f"| {name} | {build_time} | {size} | {processor} | {times[0]:.2f} s | {statistics.median(times):.2f} s |",
                      flush=True)
    finally:
        if arguments.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
