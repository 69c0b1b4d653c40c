"""LarsNet inference benchmark: exactness, speed against the published method, per-runtime U-Net speed, precision,
memory, startup. Both runtimes: ONNX Runtime + numpy (the CPU default) and torch.

Prints tables; run from the repository root:

    .venv/bin/python benchmarks/bench_inference.py                      # all sections but the 60-minute run
    .venv/bin/python benchmarks/bench_inference.py --sections memory --long
    .venv/bin/python benchmarks/bench_inference.py --sections paired --rounds 5 --repeats 1   # ratios, round by round
    .venv/bin/python benchmarks/bench_inference.py --sections processors --rounds 5   # larsnet-hybrid's cost

The golden fixture checkpoints stand in for the official weights: same architecture and cost.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
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
from lars_service.runtime.mask_models import MaskModel, create_session, session_options  # noqa: E402
from lars_service.runtime.onnx_graph import unet_onnx_bytes  # noqa: E402
from lars_service.runtime.onnx_separator import OnnxSeparator  # noqa: E402
from lars_service.runtime.pth_reader import read_numpy_state_dict  # noqa: E402
from lars_service.larsnet.checkpoints import weights_file  # noqa: E402
from timing import run_times  # noqa: E402

GOLDEN = REPO.parent / "shared" / "fixtures" / "larsnet_golden"
LOOP = REPO.parent / "shared" / "kits" / "loops" / "loop_amen.flac"
PUBLISHED_SECONDS_60S = 10.5  # LARSNET_SPEC.md: the published implementation, five U-Nets, 60 s, this machine type
RUNTIMES = {"onnx": OnnxSeparator.from_models_dir, "torch": Separator}
REPEATS = 3  # timed runs per measurement; --repeats


def onnx_unets(models: Path, subpixel: bool = True, threads: int = 1) -> list[MaskModel]:
    """The five official U-Nets as ORT sessions of `threads` threads (1: as the default separator runs them side
    by side); `subpixel=False` keeps ConvTranspose in the decoder (the lever off)."""
    config = load_config()
    return [MaskModel(create_session(unet_onnx_bytes(read_numpy_state_dict(weights_file(models, stem, config)), subpixel=subpixel),
                                     threads), (stem,), config.bins[stem], five_heads=False) for stem in STEMS]


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


def published_separate(unets: dict, audio: np.ndarray) -> dict[str, np.ndarray]:
    """The published method: one STFT, every segment of the file folded into one batch, plain masks."""
    waveform = torch.from_numpy(audio)
    samples = waveform.shape[-1]
    window = hann_window()
    spectrum = stft(torch.nn.functional.pad(waveform, (0, pad_length(samples))), window)
    magnitude, frames = spectrum.abs(), spectrum.shape[-1]
    segments = fold(magnitude)
    with torch.inference_mode():
        return {stem: istft(spectrum * unfold(unet(segments), frames), window, samples).numpy() for stem, unet in unets.items()}


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


def time_variant(variant: str, models: Path, audio: np.ndarray, device: str = "cpu") -> float:
    """Best seconds of `variant` ("ours" or "published") separating `audio` into five stems."""
    if variant == "published":
        unets = load_unets(models, STEMS, load_config())
        return best_time(lambda: published_separate(unets, audio), repeats=1)
    separator = Separator(models, STEMS, device=device)
    return best_time(lambda: separator.separate(audio), device)


def time_in_fresh_process(variant: str, models: Path) -> float:
    """`time_variant` over 60 s in a new process that leaves glibc's allocator at its defaults."""
    command = [sys.executable, __file__, "--time-variant", variant, "--default-allocator", "--models-dir", str(models),
               "--repeats", str(REPEATS)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def section_speed(models: Path, device: str, levers: bool = True) -> None:
    """The published method against ours on both runtimes; `levers` adds the torch path's lever-off rows."""
    audio = drum_audio(60.0)
    config = load_config()
    frames = (audio.shape[1] + pad_length(audio.shape[1])) // 1024 + 1
    segments = -(-frames // 512)
    flops = unet_flops() * 5 * segments
    peak = section_machine(device)
    rows = []
    published: list[float] = []  # the published method as it runs, this run (CPU): what "2x" is measured against

    def row(name: str, seconds: float) -> None:
        same_run = f"{published[0] / seconds:.2f}x" if published else "-"
        rows.append([name, f"{seconds:.2f}", f"{60 / seconds:.1f}x", same_run, f"{PUBLISHED_SECONDS_60S / seconds:.1f}x",
                     f"{flops / seconds / 1e9:.0f}", f"{100 * flops / seconds / 1e9 / peak:.0f}%"])

    if device == "cpu":
        published.append(time_in_fresh_process("published", models))
        row("published method as it runs (whole-file batch, reference U-Net, glibc's default allocator)", published[0])
        row("published method given our allocator setting (freed memory kept for reuse)", time_variant("published", models, audio))
    if device == "cpu":
        ours = OnnxSeparator.from_models_dir(models, STEMS)
        row("**ours, onnx runtime (the CPU default): ORT, sub-pixel decoder, numpy STFT**", best_time(lambda: ours.separate(audio)))
        ours.mask_models = onnx_unets(models, subpixel=False)
        row("  onnx lever off: ORT's ConvTranspose in the decoder", best_time(lambda: ours.separate(audio)))
        one_at_a_time = OnnxSeparator(onnx_unets(models, threads=torch.get_num_threads()), STEMS)
        row("  onnx lever off: U-Nets one after another, each on all threads, one segment per block",
            best_time(lambda: one_at_a_time.separate(audio)))
    separator = Separator(models, STEMS, device=device)
    row("ours, torch runtime: streamed, inference U-Net, channels-last", best_time(lambda: separator.separate(audio), device))
    if device == "cpu" and levers:
        row("  lever off: glibc's default allocator (freed blocks unmapped, faulted in again)", time_in_fresh_process("ours", models))
        fast_unets = separator.mask_model.unets
        separator.mask_model.unets = {stem: InferenceUNet(unet, channels_last=False).eval() for stem, unet in load_unets(models, STEMS, config).items()}
        row("  lever off: NCHW instead of channels-last", best_time(lambda: separator.separate(audio), device))
        separator.mask_model.unets = load_unets(models, STEMS, config)
        row("  lever off: reference U-Net module (no folded norms, NCHW)", best_time(lambda: separator.separate(audio), device))
        separator.mask_model.unets = fast_unets
        for segments_per_block in (2, 6):
            separator.block_frames = 512 * segments_per_block
            row(f"  {segments_per_block} segments per block instead of 1", best_time(lambda: separator.separate(audio), device))
        separator.block_frames = 512
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        row("  1 thread instead of 2", best_time(lambda: separator.separate(audio), device, repeats=1))
        torch.set_num_threads(threads)
    elif device != "cpu":
        for precision in ("fp16", "bf16"):
            fast = Separator(models, STEMS, device=device, precision=precision, segments_per_block=8)
            row(f"ours {precision} on {device}", best_time(lambda: fast.separate(audio), device))
    table(
        f"Speed: five U-Nets over 60 s of stereo audio on {device} ({segments} segments, {flops / 1e9:.0f} GFLOP; "
        f"at the machine's fp32 peak of {peak:.0f} GFLOP/s the floor is {flops / 1e9 / peak:.2f} s; "
        f"4x the published 10.5 s needs {flops / 1e9 / (PUBLISHED_SECONDS_60S / 4):.0f} GFLOP/s)",
        ["variant", "seconds", "real time", "vs published as it runs, this run", "vs published 10.5 s (spec)", "GFLOP/s",
         "of fp32 peak"], rows,
    )


def section_paired(models: Path, rounds: int) -> None:
    """The published method as it runs (a fresh process) and ours on both runtimes, one after another in each of
    `rounds` rounds: the median of the rounds' ratios holds up on a host whose speed drifts between the rows
    of one table (it drifted 30-60% within an hour here)."""
    audio = drum_audio(60.0)
    onnx = OnnxSeparator.from_models_dir(models, STEMS)
    separator = Separator(models, STEMS)

    def seconds(function) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            function()
        return time.perf_counter() - started

    seconds(lambda: onnx.separate(audio))  # warm-up
    seconds(lambda: separator.separate(audio))
    rounds_seen = []
    for _ in range(rounds):
        published = time_in_fresh_process("published", models)
        rounds_seen.append((published, seconds(lambda: onnx.separate(audio)), seconds(lambda: separator.separate(audio))))
    rows = [[str(index + 1), f"{published:.2f}", f"{ours_onnx:.2f}", f"{published / ours_onnx:.2f}x", f"{ours_torch:.2f}",
             f"{published / ours_torch:.2f}x"] for index, (published, ours_onnx, ours_torch) in enumerate(rounds_seen)]
    ratios = np.array([(published / ours_onnx, published / ours_torch) for published, ours_onnx, ours_torch in rounds_seen])
    rows.append(["**median of the rounds' ratios**", "", "", f"**{np.median(ratios[:, 0]):.2f}x**", "",
                 f"**{np.median(ratios[:, 1]):.2f}x**"])
    table("Paired rounds: five U-Nets over 60 s, the published method as it runs (fresh process, one timed run "
          "after a warm-up) then ours, once each per round", ["round", "published s", "onnx s", "onnx vs published",
                                                             "torch s", "torch vs published"], rows)


def section_runtimes(models: Path) -> None:
    """Seconds per U-Net for the 6 segments of 60 s, each runtime alone (masks only: no STFT, no filtering)."""
    segments = torch.rand(6, 2, 2049, 512) * 4
    config = load_config()
    unet = load_unets(models, ("kick",), config)["kick"]
    state = read_numpy_state_dict(weights_file(models, "kick", config))
    magnitude = np.ascontiguousarray(segments[:, :, :2048].numpy())
    inference = InferenceUNet(unet).eval()
    flops = unet_flops() * 6
    rows = []
    for name, function in (
        ("torch: inference U-Net, channels-last", lambda: [inference(segments[index:index + 1]) for index in range(6)]),
        ("onnx: ORT, sub-pixel decoder (default)", session_runner(create_session(unet_onnx_bytes(state)), magnitude)),
        ("onnx: ORT, ConvTranspose decoder", session_runner(create_session(unet_onnx_bytes(state, subpixel=False)), magnitude)),
    ):
        seconds = best_time(function)
        rows.append([name, f"{seconds:.2f}", f"{flops / seconds / 1e9:.0f}"])
    table(f"Per-U-Net speed: one U-Net over 6 segments (60 s), one segment per call, {torch.get_num_threads()} threads",
          ["runtime", "seconds", "GFLOP/s"], rows)
    shares = {variant: kernel_shares(unet_onnx_bytes(state, subpixel=variant == "sub-pixel"), magnitude[:1])
              for variant in ("ConvTranspose", "sub-pixel")}
    operators = sorted({name for share in shares.values() for name in share}, key=lambda name: -max(
        share.get(name, 0.0) for share in shares.values()))
    table("ORT kernel time by operator, one U-Net on one segment (ORT's profiler; decoder as ConvTranspose vs sub-pixel)",
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
    completed = subprocess.run(
        [sys.executable, "-c", "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)",
         sys.executable, "-m", "lars_service", *arguments],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    wall = time.perf_counter() - started
    document = json.loads(completed.stdout)
    if completed.returncode != 0:
        raise RuntimeError(f"{arguments}: {document}")
    peak_kb = int(completed.stderr.strip().splitlines()[-1])
    return document, wall, peak_kb / 1024


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
            document, wall, _ = run_cli_measured(
                ["separate", "-i", str(clip), "-o", str(Path(scratch) / "out"), "--processor", "larsnet", "--models-dir", str(models),
                 "--stems", stems, "--runtime", runtime, "--device", "cpu"]
            )
            timings = document["timings"]
            interpreter = wall - timings["imports"] - timings["load"] - timings["compute"]
            rows.append([runtime, stems, f"{wall:.2f}", f"{interpreter:.2f}", f"{timings['imports']:.2f}", f"{timings['load']:.2f}",
                         f"{timings['compute']:.2f}"])
    table(f"Startup: `python -m lars_service` start to JSON for a 5 s clip (CPU), weights from {models}",
          ["runtime", "stems", "total s", "interpreter + CLI s", "imports s", "weights s", "compute s"], rows)


def main() -> None:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=GOLDEN / "pretrained_larsnet_models")
    parser.add_argument("--sections", default="exactness,speed,runtimes,precision,memory,startup")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--long", action="store_true", help="also run a 60-minute input in the memory section")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs per measurement, the best counts (default 3)")
    parser.add_argument("--no-levers", action="store_true", help="speed section without the torch path's lever-off rows")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the paired and processors sections (default 5)")
    parser.add_argument("--default-allocator", action="store_true", help="leave glibc's allocator at its defaults")
    parser.add_argument("--time-variant", choices=("ours", "published"), help="only print the seconds of one variant over 60 s")
    args = parser.parse_args()
    REPEATS = args.repeats
    if not args.default_allocator:
        keep_freed_memory()  # as the lars-service process does
    if args.time_variant:
        print(time_variant(args.time_variant, args.models_dir, drum_audio(60.0), args.device))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    sections = args.sections.split(",")
    if "exactness" in sections:
        section_exactness(args.models_dir)
    if "speed" in sections:
        section_speed(args.models_dir, args.device, levers=not args.no_levers)
    if "paired" in sections:
        section_paired(args.models_dir, args.rounds)
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
