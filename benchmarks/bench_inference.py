"""LarsNet inference benchmark: exactness, speed and memory against the published method, per-runtime U-Net speed,
precision, memory over long inputs, startup. Both runtimes: ONNX Runtime + numpy (the CPU default) and torch.

Prints tables; run from the repository root:

    .venv/bin/python benchmarks/bench_inference.py                      # all sections but the 60-minute run
    .venv/bin/python benchmarks/bench_inference.py --sections speed --rounds 5     # the speed table alone
    .venv/bin/python benchmarks/bench_inference.py --sections memory --long
    .venv/bin/python benchmarks/bench_inference.py --sections processors --rounds 5   # larsnet-hybrid's cost

The golden fixture checkpoints stand in for the official weights: same architecture and cost.

The speed section runs every row in a fresh process per round, rows one after another in each round, and times
load + inference of 60 s of drums; each row shows the peak RSS of its own process (the kernel's count, reported
by the launcher that starts it: `timing.run_with_peak`; not Python objects).

What the published-method row is: the published inference as LARSNET_SPEC.md describes it, rebuilt without
its source: the reference U-Net modules (`larsnet.unet.UNet`, NCHW, batch norms as modules, eval mode), one
STFT of the whole file, all its 512-frame segments stacked into ONE batch that each U-Net runs at once, plain
masks, one inverse STFT per stem; torch's defaults (its default thread count, no channels-last, no folded
norms, glibc's default allocator); a fresh process per round, timed from loading the weights to the last stem.
What it is not: the published code itself. Its weights are read by this project's weights-only loader into
modules built on the meta device (the published code random-initialises each U-Net, then loads the whole
checkpoint with `torch.load`: a slower load), and it has none of the published script's file reading or writing.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from lars_service.larsnet import STEMS, Separator  # noqa: E402
from lars_service.larsnet.config import load_config  # noqa: E402
from lars_service.larsnet.inference import InferenceUNet  # noqa: E402
from lars_service.larsnet.transforms import fold, hann_window, istft, pad_length, stft, unfold  # noqa: E402
from lars_service.larsnet.weights import load_unets  # noqa: E402
from lars_service.allocator import keep_freed_memory  # noqa: E402
from lars_service.runtime.onnx_masks import create_session, session_options  # noqa: E402
from lars_service.runtime.onnx_graph import DECODER_FORMS, unet_onnx_bytes  # noqa: E402
from lars_service.runtime.onnx_separator import OnnxSeparator  # noqa: E402
from lars_service.runtime.pth_reader import read_numpy_state_dict  # noqa: E402
from lars_service.larsnet.checkpoints import weights_file  # noqa: E402
from timing import fresh_process_json, run_times, run_with_peak  # noqa: E402

GOLDEN = REPO.parent / "shared" / "fixtures" / "larsnet_golden"
LOOP = REPO.parent / "shared" / "kits" / "loops" / "loop_amen.flac"
RUNTIMES = {"onnx": OnnxSeparator.from_models_dir, "torch": Separator}
REPEATS = 3  # timed runs per measurement; --repeats
DECODER_LABELS = {"phases": "exact-tap phases (default)", "subpixel": "3x3 sub-pixel", "convtranspose": "ConvTranspose"}


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    cells = [header] + [[f"{cell:.3g}" if isinstance(cell, float) else str(cell) for cell in row] for row in rows]
    widths = [max(len(row[index]) for row in cells) for index in range(len(header))]
    print(f"\n## {title}\n")
    for number, row in enumerate(cells):
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |")
        if number == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    sys.stdout.flush()


def drum_audio(seconds: float) -> np.ndarray:
    """(2, samples) float32: the amen loop tiled to `seconds`, each repeat at a different gain."""
    loop, _ = soundfile.read(LOOP, dtype="float32", always_2d=True)
    repeats = int(np.ceil(seconds * 44100 / len(loop)))
    gains = np.random.default_rng(0).uniform(0.5, 1.0, repeats)
    return np.concatenate([loop * gain for gain in gains])[: int(seconds * 44100)].T.astype(np.float32)


def published_separate(unets: dict, audio: np.ndarray, device: str = "cpu") -> dict[str, np.ndarray]:
    """The published method: one STFT of the whole file, every 512-frame segment of it stacked into one batch that
    each U-Net runs at once (LARSNET_SPEC.md), plain masks, one inverse STFT per stem."""
    waveform = torch.from_numpy(audio).to(device)
    samples = waveform.shape[-1]
    window = hann_window(device)
    spectrum = stft(torch.nn.functional.pad(waveform, (0, pad_length(samples))), window)
    magnitude, frames = spectrum.abs(), spectrum.shape[-1]
    segments = fold(magnitude)
    with torch.inference_mode():
        return {stem: istft(spectrum * unfold(unet(segments), frames), window, samples).cpu().numpy()
                for stem, unet in unets.items()}


def unet_flops(bins: int = 2048, frames: int = 512) -> float:
    """Floating-point operations (2 per multiply-add) of one U-Net on one segment."""
    channels = (2, 16, 32, 64, 128, 256, 512)
    flops, height, width = 0.0, bins, frames
    for index in range(6):  # encoder: output is half the size
        height, width = height // 2, width // 2
        flops += 2 * channels[index] * channels[index + 1] * 25 * height * width
    for index in range(6):  # decoder: input (height, width) -> twice the size
        in_channels = channels[6 - index] * (1 if index == 0 else 2)
        flops += 2 * in_channels * channels[5 - index] * 25 * height * width
        height, width = height * 2, width * 2
    return flops + 2 * 2 * 2 * 16 * height * width


def conv_throughput(device: str, dtype: torch.dtype = torch.float32) -> float:
    """GFLOP/s of this machine's best convolution: a channels-last 3x3 convolution, 128 -> 128 channels."""
    layer = torch.nn.Conv2d(128, 128, 3, padding=1).to(device, dtype).to(memory_format=torch.channels_last).eval()
    features = torch.randn(1, 128, 256, 128, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    flops = 2 * 128 * 128 * 9 * 256 * 128
    return flops / best_time(lambda: layer(features), device) / 1e9


def fma_peak() -> float | None:
    """GFLOP/s of the CPU's float32 multiply-add units with no memory traffic (benchmarks/fma_peak.c),
    or None where it cannot be built (no C compiler, no AVX-512)."""
    with tempfile.TemporaryDirectory() as build:
        binary = Path(build) / "fma_peak"
        command = ["cc", "-O3", "-march=native", "-fopenmp", str(REPO / "benchmarks" / "fma_peak.c"), "-o", str(binary)]
        try:
            subprocess.run(command, check=True, capture_output=True)
            environment = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
            runs = [float(subprocess.run([binary], check=True, capture_output=True, text=True, env=environment).stdout) for _ in range(3)]
        except (OSError, subprocess.CalledProcessError, ValueError):
            return None
    return max(runs)


def section_machine(device: str) -> float:
    """Print what this machine can do at best; return the fp32 floor's rate (FMA peak, else best convolution)."""
    if device != "cpu":
        peak = conv_throughput(device)
        table(f"Machine: {device}", ["measure", "GFLOP/s"], [["fp32 channels-last 3x3 convolution, 128 -> 128", f"{peak:.0f}"]])
        return peak
    square = torch.randn(2048, 2048)
    fma, convolution = fma_peak(), conv_throughput(device)
    rows = [
        ["fp32 multiply-add peak, all threads, no memory traffic (benchmarks/fma_peak.c)", fma],
        ["fp32 channels-last 3x3 convolution, 128 -> 128 (oneDNN)", convolution],
        ["fp32 2048 x 2048 matrix product", 2 * 2048**3 / best_time(lambda: square @ square) / 1e9],
        ["bf16 channels-last 3x3 convolution, 128 -> 128 (oneDNN)", conv_throughput(device, torch.bfloat16)],
    ]
    table(f"Machine: {torch.get_num_threads()} threads", ["measure", "GFLOP/s"],
          [[name, "not measured" if rate is None else f"{rate:.0f}"] for name, rate in rows])
    return fma or convolution


def best_time(function, device: str = "cpu", repeats: int | None = None) -> float:
    """Best of `repeats` timed runs (default: --repeats) after one untimed warm-up run."""
    with torch.inference_mode():
        return min(run_times(function, repeats or REPEATS, synchronize=torch.cuda.synchronize if device == "cuda" else None))


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((reference - estimate) ** 2), 1e-30)))


def section_exactness(models: Path) -> None:
    with np.load(GOLDEN / "expected.npz") as archive:
        expected = {key: archive[key] for key in archive.files}
    rows = []
    for (mode, alpha), (runtime, build) in itertools.product(
            (("plain", None), ("wiener1", 1.0), ("wiener2", 2.0)), RUNTIMES.items()):
        separator = build(models, STEMS, wiener_exponent=alpha)
        worst = 0.0
        for case in ("stereo_2s", "short_0s5"):
            audio = soundfile.read(GOLDEN / f"{case}.wav", dtype="float32", always_2d=True)[0].T
            for stem, output in separator.separate(audio).items():
                reference = expected[f"{case}/{mode}/{stem}"]
                worst = max(worst, float(np.abs(output - reference).max()) / max(1.0, float(np.abs(reference).max())))
        rows.append([runtime, mode, f"{worst:.2e}", "1e-4", "yes" if worst <= 1e-4 else "NO"])
    table("Exactness: both runtimes (fp32) against the published outputs",
          ["runtime", "mode", "max error / max(1,|ref|)", "tolerance", "within"], rows)


def run_published(models: Path, device: str, seconds: float) -> dict[str, float]:
    """Load the published method's U-Nets and separate `seconds` of drums once, in this process.

    Returns:
        {"load": s, "compute": s, "peak_mb": this process's peak RSS as the OS counts it}.
    """
    audio = drum_audio(seconds)
    started = time.perf_counter()
    unets = {stem: unet.to(device) for stem, unet in load_unets(models, STEMS, load_config()).items()}
    loaded = time.perf_counter()
    published_separate(unets, audio, device)
    if device == "cuda":
        torch.cuda.synchronize()
    return {"load": loaded - started, "compute": time.perf_counter() - loaded}


def published_in_fresh_process(models: Path, device: str, seconds: float) -> dict[str, float]:
    """`run_published` in a new Python process that leaves glibc's allocator and torch's threads at their defaults."""
    return fresh_process_json([sys.executable, __file__, "--run-published", "--default-allocator", "--models-dir",
                               str(models), "--device", device, "--seconds", str(seconds)])


def ours_in_fresh_process(runtime: str, models: Path, device: str, clip: Path, output: Path) -> dict[str, float]:
    """One `lars-service separate --processor larsnet --runtime RUNTIME` of `clip`: its own timings (load: weights
    to ready model; compute: reading, separating and writing the stems) and its process's peak RSS."""
    document, _, peak = run_cli_measured(["separate", "-i", str(clip), "-o", str(output), "--processor", "larsnet",
                                          "--runtime", runtime, "--device", device, "--models-dir", str(models)])
    return {"load": document["timings"]["load"], "compute": document["timings"]["compute"], "peak_mb": peak}


def section_speed(models: Path, device: str, rounds: int, seconds: float = 60.0) -> None:
    """The published method and ours on each runtime, every row a fresh process per round, timed from loading the
    weights to the last stem; rows one after another within a round, and a ratio is the median over rounds of
    the two rows' times in the same round, which holds up on a host whose speed drifts (30-60% within an hour
    here). Ours run as the real CLI (input and output files included); the published row has no file work."""
    frames = (int(seconds * 44100) + pad_length(int(seconds * 44100))) // 1024 + 1
    segments = -(-frames // 512)
    flops = unet_flops() * 5 * segments
    peak = section_machine(device)
    with tempfile.TemporaryDirectory() as scratch:
        installed = Path(scratch) / "models"  # the weights with the model files `models install` writes beside them
        shutil.copytree(models, installed, copy_function=shutil.copyfile)
        for folder in (installed, *installed.rglob("*")):  # writable, whatever the source's mode (read-only fixtures)
            if folder.is_dir():
                folder.chmod(0o755)
        run_cli_measured(["models", "convert", "--models-dir", str(installed)])
        # row -> (runtime, models directory)
        ours = {"onnx": ("onnx", models), "onnx-installed": ("onnx", installed), "torch": ("torch", models)}
        if device != "cpu":
            ours = {"torch": ("torch", models)}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in ("published", *ours)}
        clip = Path(scratch) / "drums.wav"
        soundfile.write(clip, drum_audio(seconds).T, 44100, subtype="FLOAT")
        if "onnx-installed" in ours:  # the first load writes this machine's optimized form of each model file, once
            ours_in_fresh_process("onnx", installed, device, clip, Path(scratch) / "out")
        for _ in range(rounds):
            results["published"].append(published_in_fresh_process(models, device, seconds))
            for name, (runtime, directory) in ours.items():
                results[name].append(ours_in_fresh_process(runtime, directory, device, clip, Path(scratch) / "out"))
    labels = {"published": "published method (see the module docstring): whole-file batch, reference U-Nets, torch defaults",
              "onnx": "**ours, `--runtime onnx` (the CPU default), U-Net graphs built from the weights at load**",
              "onnx-installed": "**ours, `--runtime onnx`, with the model files `models install` writes (`models convert`)**",
              "torch": "ours, `--runtime torch`"}
    published = np.array([result["load"] + result["compute"] for result in results["published"]])
    rows = []
    for name, runs in results.items():
        total = np.array([result["load"] + result["compute"] for result in runs])
        compute = float(np.median([result["compute"] for result in runs]))
        rows.append([labels[name], f"{np.median(total):.2f}", f"{np.median([result['load'] for result in runs]):.2f}",
                     f"{compute:.2f}", f"{np.median(published / total):.2f}x",
                     f"{max(result['peak_mb'] for result in runs):.0f}", f"{seconds / compute:.1f}x",
                     f"{flops / compute / 1e9:.0f}", f"{100 * flops / compute / 1e9 / peak:.0f}%"])
    table(
        f"Speed and memory: five U-Nets over {seconds:.0f} s of stereo drums on {device}, every row a fresh process "
        f"per round, medians of {rounds} rounds ({segments} segments, {flops / 1e9:.0f} GFLOP; at the machine's fp32 "
        f"peak of {peak:.0f} GFLOP/s the floor is {flops / 1e9 / peak:.2f} s)",
        ["variant", "load + compute s", "load s", "compute s", "vs published (same round)", "peak RSS MB",
         "real time (compute)", "GFLOP/s (compute)", "of fp32 peak"], rows,
    )


def run_unet_variant(models: Path, variant: str) -> dict[str, float]:
    """One U-Net (the kick's) over the 6 segments of 60 s, one segment per call, in this process: best of
    --repeats timed runs; `variant` "torch" or a decoder form of the ONNX graph (`DECODER_FORMS`).

    Returns:
        {"seconds": s, "peak_mb": this process's peak RSS as the OS counts it}.
    """
    magnitude = np.random.default_rng(0).uniform(0, 4, (6, 2, 2048, 512)).astype(np.float32)
    config = load_config()
    if variant == "torch":
        inference = InferenceUNet(load_unets(models, ("kick",), config)["kick"]).eval()
        segments = torch.from_numpy(magnitude)
        function = lambda: [inference(segments[index:index + 1]) for index in range(len(segments))]  # noqa: E731
    else:
        state = read_numpy_state_dict(weights_file(models, "kick", config))
        function = session_runner(create_session(unet_onnx_bytes(state, decoder=variant)), magnitude)
    return {"seconds": best_time(function)}


def section_runtimes(models: Path) -> None:
    """Seconds per U-Net for the 6 segments of 60 s, each runtime alone (masks only: no STFT, no filtering), each
    row in a fresh process so that its peak RSS is its own."""
    flops = unet_flops() * 6
    rows = []
    labels = {"torch": "torch: inference U-Net, channels-last",
              **{form: f"onnx: ORT, {DECODER_LABELS[form]} decoder" for form in DECODER_FORMS}}
    for variant, label in labels.items():
        result = fresh_process_json([sys.executable, __file__, "--run-unet", variant, "--models-dir", str(models),
                                     "--repeats", str(REPEATS)])
        rows.append([label, f"{result['seconds']:.2f}", f"{flops / result['seconds'] / 1e9:.0f}", f"{result['peak_mb']:.0f}"])
    table(f"Per-U-Net speed: one U-Net over 6 segments (60 s), one segment per call, {torch.get_num_threads()} threads, "
          "a fresh process per row", ["runtime", "seconds", "GFLOP/s", "peak RSS MB"], rows)
    config = load_config()
    state = read_numpy_state_dict(weights_file(models, "kick", config))
    magnitude = np.random.default_rng(0).uniform(0, 4, (1, 2, 2048, 512)).astype(np.float32)
    shares = {DECODER_LABELS[form]: kernel_shares(unet_onnx_bytes(state, decoder=form), magnitude[:1]) for form in DECODER_FORMS}
    operators = sorted({name for share in shares.values() for name in share}, key=lambda name: -max(
        share.get(name, 0.0) for share in shares.values()))
    table("ORT kernel time by operator, one U-Net on one segment (ORT's profiler; each decoder form)",
          ["operator", *(f"{variant} decoder" for variant in shares)],
          [[name, *(f"{100 * share.get(name, 0.0):.0f}%" for share in shares.values())] for name in operators])


def kernel_shares(model: bytes, magnitude: np.ndarray) -> dict[str, float]:
    """Share of ORT's kernel time per operator type (after ORT's graph optimizations) over 3 runs."""
    import onnxruntime

    options = session_options()
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as scratch:
        options.profile_file_prefix = str(Path(scratch) / "ort")
        session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        for _ in range(3):
            session.run(None, {"magnitude": magnitude})
        events = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            operator = event["args"]["op_name"]
            totals[operator] = totals.get(operator, 0.0) + event["dur"]
    return {operator: duration / sum(totals.values()) for operator, duration in totals.items()}


def session_runner(session, magnitude: np.ndarray):
    """A function running `session` on each segment of `magnitude` (segments, 2, F, T) in turn."""
    return lambda: [session.run(None, {"magnitude": magnitude[index:index + 1]}) for index in range(len(magnitude))]


def section_precision(models: Path, device: str) -> None:
    rows = []
    for alpha in (None, 1.0):
        exact = Separator(models, STEMS, wiener_exponent=alpha, device=device)
        reduced = {precision: Separator(models, STEMS, wiener_exponent=alpha, device=device, precision=precision) for precision in ("bf16", "fp16")}
        for case in ("stereo_2s", "short_0s5"):
            audio = soundfile.read(GOLDEN / f"{case}.wav", dtype="float32", always_2d=True)[0].T
            reference = exact.separate(audio)
            for precision, separator in reduced.items():
                outputs = separator.separate(audio)
                worst = min(sdr(reference[stem], outputs[stem]) for stem in STEMS)
                rows.append([precision, case, "plain" if alpha is None else "wiener1", f"{worst:.1f}", "yes" if worst > 40 else "NO"])
    table(f"Precision on {device}: worst-stem SDR (dB) of reduced precision against fp32 on the fixtures", ["precision", "case", "mode", "SDR dB", "> 40 dB"], rows)
    for precision in ("bf16", "fp16"):
        kept = all(row[4] == "yes" for row in rows if row[0] == precision)
        print(f"{precision}: {'kept' if kept else 'not offered'} (a mode is kept only if every fixture stays above 40 dB)")


def run_cli_measured(arguments: list[str]) -> tuple[dict, float, float]:
    """(JSON document, wall seconds, peak RSS in MB) of one `python -m lars_service` run in a fresh process."""
    started = time.perf_counter()
    completed, peak_mb = run_with_peak([sys.executable, "-m", "lars_service", *arguments], cwd=REPO,
                                       env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    wall = time.perf_counter() - started
    document = json.loads(completed.stdout)
    if completed.returncode != 0:
        raise RuntimeError(f"{arguments}: {document}")
    return document, wall, peak_mb


def section_memory(models: Path, long_run: bool) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for minutes in (1, 10) + ((60,) if long_run else ()):
            path = Path(scratch) / f"drums_{minutes}min.wav"
            with soundfile.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as output:
                for _ in range(minutes):
                    output.write(drum_audio(60.0).T)
            document, wall, peak = run_cli_measured(
                ["separate", "-i", str(path), "-o", str(Path(scratch) / "out"), "--processor", "larsnet", "--models-dir", str(models)]
            )
            rows.append([f"{minutes} min", "5 stems, plain", f"{peak:.0f}", f"{wall:.0f}", f"{minutes * 60 / document['timings']['compute']:.1f}x"])
    table("Memory: peak resident set of the whole `separate` process (fp32, CPU)", ["input", "work", "peak RSS MB", "wall s", "real time"], rows)


def section_processors(models: Path, rounds: int) -> None:
    """The default processors over 60 s of drums, each run a fresh `separate` process, in `rounds` rounds one after
    another: compute seconds (the document's `timings.compute`) and peak RSS of each run, and the median of the
    rounds' ratios (robust to a host whose speed drifts); then 10 minutes, once each, for peak memory."""
    processors = {"larsnet-open": [], "larsnet-hybrid": [], "larsnet (five U-Nets)": []}
    arguments = {"larsnet-open": ["--processor", "larsnet-open", "--runtime", "onnx"],
                 "larsnet-hybrid": ["--processor", "larsnet-hybrid"],
                 "larsnet (five U-Nets)": ["--processor", "larsnet", "--runtime", "onnx", "--models-dir", str(models)]}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        def run(name: str, path: Path) -> tuple[float, float]:
            document, _, peak = run_cli_measured(["separate", "-i", str(path), "-o", str(Path(scratch) / "out"),
                                                  *arguments[name]])
            return document["timings"]["compute"], peak

        clip = Path(scratch) / "drums_60s.wav"
        soundfile.write(clip, drum_audio(60.0).T, 44100, subtype="FLOAT")
        for round_number in range(1, rounds + 1):
            for name, seen in processors.items():
                seen.append(run(name, clip))
                rows.append([str(round_number), name, f"{seen[-1][0]:.2f}", f"{seen[-1][1]:.0f}", ""])
            hybrid = processors["larsnet-hybrid"][-1][0]
            rows[-2][4] = f"{hybrid / processors['larsnet-open'][-1][0]:.2f}x larsnet-open"
            rows[-1][4] = f"hybrid is {hybrid / processors['larsnet (five U-Nets)'][-1][0]:.2f}x this"
        open_ratio = np.median([hybrid[0] / alone[0] for hybrid, alone in zip(processors["larsnet-hybrid"], processors["larsnet-open"])])
        unet_ratio = np.median([hybrid[0] / unets[0] for hybrid, unets in
                                zip(processors["larsnet-hybrid"], processors["larsnet (five U-Nets)"])])
        rows.append(["**median**", "larsnet-hybrid", "", "", f"**{open_ratio:.2f}x larsnet-open, {unet_ratio:.2f}x five U-Nets**"])
        table(f"Processors over 60 s of drums, a fresh process per run, {rounds} rounds (CPU, load average "
              f"{os.getloadavg()[0]:.1f} at the end)", ["round", "processor", "compute s", "peak RSS MB", "ratio"], rows)
        long_clip = Path(scratch) / "drums_600s.wav"
        with soundfile.SoundFile(long_clip, "w", 44100, 2, subtype="PCM_16") as output:
            for _ in range(10):
                output.write(drum_audio(60.0).T)
        rows = [[name, f"{seconds:.1f}", f"{peak:.0f}"] for name in ("larsnet-open", "larsnet-hybrid")
                for seconds, peak in [run(name, long_clip)]]
        table("Processors over 600 s of drums: peak memory", ["processor", "compute s", "peak RSS MB"], rows)


def section_startup(models: Path) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "clip_5s.wav"
        soundfile.write(clip, drum_audio(5.0).T, 44100)
        for runtime, stems in itertools.product(("onnx", "torch"), ("kick", ",".join(STEMS))):
            document, wall, peak = run_cli_measured(
                ["separate", "-i", str(clip), "-o", str(Path(scratch) / "out"), "--processor", "larsnet", "--models-dir", str(models),
                 "--stems", stems, "--runtime", runtime, "--device", "cpu"]
            )
            timings = document["timings"]
            interpreter = wall - timings["imports"] - timings["load"] - timings["compute"]
            rows.append([runtime, stems, f"{wall:.2f}", f"{interpreter:.2f}", f"{timings['imports']:.2f}", f"{timings['load']:.2f}",
                         f"{timings['compute']:.2f}", f"{peak:.0f}"])
    table(f"Startup: `python -m lars_service` start to JSON for a 5 s clip (CPU), weights from {models}",
          ["runtime", "stems", "total s", "interpreter + CLI s", "imports s", "weights s", "compute s", "peak RSS MB"], rows)


def main() -> None:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=GOLDEN / "pretrained_larsnet_models")
    parser.add_argument("--sections", default="exactness,speed,runtimes,precision,memory,startup")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--long", action="store_true", help="also run a 60-minute input in the memory section")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs per measurement, the best counts (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh-process rounds of the speed section (default 3)")
    parser.add_argument("--seconds", type=float, default=60.0, help="input length of the speed section (default 60)")
    parser.add_argument("--default-allocator", action="store_true", help="leave glibc's allocator at its defaults")
    parser.add_argument("--run-unet", metavar="VARIANT", help="only time one U-Net (torch or an ONNX decoder form) in "
                        "this process and print what it measured as JSON")
    parser.add_argument("--run-published", action="store_true", help="only load and run the published method once, "
                        "in this process, and print what it measured as JSON")
    args = parser.parse_args()
    REPEATS = args.repeats
    if not args.default_allocator:
        keep_freed_memory()  # as the lars-service process does
    if args.run_unet:
        print(json.dumps(run_unet_variant(args.models_dir, args.run_unet)))
        return
    if args.run_published:
        print(json.dumps(run_published(args.models_dir, args.device, args.seconds)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    sections = args.sections.split(",")
    if "exactness" in sections:
        section_exactness(args.models_dir)
    if "speed" in sections:
        section_speed(args.models_dir, args.device, args.rounds, args.seconds)
    if "runtimes" in sections:
        section_runtimes(args.models_dir)
    if "precision" in sections:
        section_precision(args.models_dir, args.device)
    if "memory" in sections:
        section_memory(args.models_dir, args.long)
    if "startup" in sections:
        section_startup(args.models_dir)
    if "processors" in sections:
        section_processors(args.models_dir, args.rounds)


if __name__ == "__main__":
    main()
