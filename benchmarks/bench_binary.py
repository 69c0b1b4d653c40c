"""The frozen binary: size on disk, compressed size, files, and start-up to the JSON for a 5 s drum clip.

    python benchmarks/bench_binary.py [--runs 5] [--binary dist/lars-service/lars-service] [--variants one-folder,one-file]

Builds each variant from lars-service.spec into a scratch directory (from scratch), or measures `--binary` as it is.
The golden (official-format) checkpoints are installed by the binary itself (`models install`, which also writes
the ONNX model files), then `lars-service separate` of a 5 s clip of a real drum loop is timed from spawning the
process until its JSON document is parsed, `--runs` times (median; page caches warm after the first), with the
largest peak RSS of those runs, for one U-Net (`--stems kick`), all five, and the placeholder (no model). Prints
Markdown tables.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support import GOLDEN_MODELS, drum_clip  # noqa: E402  (the tests' real drum clip)
from timing import run_with_peak  # noqa: E402

VARIANTS = {"one-folder": [], "one-file": ["--", "--onefile"]}
#: what runs before the official-format weights are installed: the default then, and the open network alone
WORK_WITHOUT_OFFICIAL = {
    "default without official weights (larsnet-hybrid)": [],
    "larsnet-open (the network alone)": ["--processor", "larsnet-open"],
}
#: what runs after the binary installed the golden (official-format) weights
WORK = {
    "larsnet, 1 U-Net (kick)": ["--processor", "larsnet", "--stems", "kick"],
    "larsnet, 5 U-Nets": ["--processor", "larsnet"],
    "placeholder (no model)": ["--processor", "placeholder"],
}


def build(variant: str, scratch: Path) -> tuple[Path, float]:
    """Build `variant` into scratch; returns (binary, build seconds)."""
    dist, work = scratch / f"dist-{variant}", scratch / f"build-{variant}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "ERROR", "--distpath", str(dist),
                    "--workpath", str(work), str(REPO / "lars-service.spec"), *VARIANTS[variant]], cwd=REPO, check=True)
    output = dist / "lars-service"
    return (output / "lars-service" if output.is_dir() else output), time.perf_counter() - started


def bundle_facts(binary: Path, scratch: Path) -> tuple[int, int, int]:
    """(bytes on disk, bytes as .tar.gz, files) of the bundle `binary` belongs to (its folder, or the one file)."""
    root = binary.parent if binary.parent.name == "lars-service" else binary
    files = [path for path in root.rglob("*") if path.is_file() and not path.is_symlink()] if root.is_dir() else [root]
    archive = scratch / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as packed:
        packed.add(root, arcname=root.name)
    size = archive.stat().st_size
    archive.unlink()
    return sum(path.stat().st_size for path in files), size, len(files)


def time_to_json(binary: Path, clip: Path, output_dir: Path, arguments: list[str], env: dict[str, str]
                 ) -> tuple[float, float, dict]:
    """Seconds from spawning the service until its success document is parsed, its peak RSS in MB, and the document.

    The binary runs under `timing.run_with_peak`, so its peak is its own, not this script's.
    """
    started = time.perf_counter()
    completed, peak_mb = run_with_peak([str(binary), "separate", "--input", str(clip), "--output-dir", str(output_dir),
                                        *arguments], env=env)
    document = json.loads(completed.stdout)
    seconds = time.perf_counter() - started
    if completed.returncode != 0 or "error" in document:
        raise RuntimeError(f"{binary} failed: {json.dumps(document)}\n{completed.stderr[-2000:]}")
    return seconds, peak_mb, document


def time_row(name: str, work: str, binary: Path, clip: Path, output_dir: Path, arguments: list[str], env: dict[str, str],
             runs: int) -> None:
    """Print one table row: `runs` spawns of the binary on `clip` with `arguments` (the largest peak RSS of them)."""
    measured = [time_to_json(binary, clip, output_dir, arguments, env) for _ in range(runs)]
    times = [seconds for seconds, _, _ in measured]
    document = measured[-1][2]
    print(f"| {name} | {work} | {document['runtime']} | {times[0]:.2f} | {statistics.median(times):.2f} | "
          f"{min(times):.2f} | {document['timings']['load']:.2f} | {document['timings']['compute']:.2f} | "
          f"{max(peak for _, peak, _ in measured):.0f} |", flush=True)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--runs", type=int, default=5, help="timed runs per binary and work (default 5)")
    options.add_argument("--binary", type=Path, help="measure this built binary instead of building")
    options.add_argument("--variants", default="one-folder", help="comma list of one-folder, one-file to build")
    arguments = options.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="lars-bench-binary-"))
    env = {key: value for key, value in os.environ.items() if key != "LARS_MODELS_DIR"}
    env["XDG_DATA_HOME"] = str(scratch / "data-home")
    clip = drum_clip(scratch / "amen_5s.wav", 5.0)
    try:
        binaries = {"given": (arguments.binary.resolve(), None)} if arguments.binary else {
            variant: build(variant, scratch) for variant in arguments.variants.split(",")}
        print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start, Python {sys.version.split()[0]}, "
              f"clip {clip.name} (5.0 s stereo 44.1 kHz), golden weights installed by the binary, {arguments.runs} runs each\n")
        print("| variant | build time | on disk | .tar.gz | files |")
        print("|---|---|---|---|---|")
        for name, (binary, seconds) in binaries.items():
            size, compressed, files = bundle_facts(binary, scratch)
            built = "-" if seconds is None else f"{seconds:.0f} s"
            print(f"| {name} | {built} | {size / 1e6:.0f} MB ({size / 2**20:.0f} MiB) | {compressed / 1e6:.0f} MB | {files} |")
        print("\n| variant | work | runtime | first run s | median s | min s | load s | compute s | peak RSS MB |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, (binary, _) in binaries.items():
            for work, work_arguments in WORK_WITHOUT_OFFICIAL.items():
                time_row(name, work, binary, clip, scratch / "out", work_arguments, env, arguments.runs)
            subprocess.run([str(binary), "models", "install", str(GOLDEN_MODELS), "--allow-unverified", "--progress", "none"],
                           check=True, capture_output=True, env=env)
            for work, work_arguments in WORK.items():
                time_row(name, work, binary, clip, scratch / "out", work_arguments, env, arguments.runs)
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
