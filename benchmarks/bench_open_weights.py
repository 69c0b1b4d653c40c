"""Our open weights (compact family) on drum kits they never heard: quality, bf16.

Prints two tables (their speed and memory beside the other processors': `bench_inference.py --sections processors`):
1. Quality on the held-out kits (Hydrogen ColomboAcousticDrumkit and the three Millo kits, acoustic; never
   trained on):
   per-stem and mean SDR of the open weights (through the service's Separator, block-streamed), of NMFD
   (the demucs-filter fallback), of the hybrid (larsnet-hybrid: the open weights on ONNX Runtime, refined by
   the NMFD started from their stems, then the multichannel Wiener filter; and without that filter), of the
   ideal ratio mask taken per mel band of the weights (the bound for their mask form) and per bin (the bound
   for any masking model), over clips other than those the training validated on; then the same per held-out
   kit (`--per-kit` clips rendered from each kit alone), with the hybrid's margins over the network and over the
   better of the network and NMFD.
2. bf16 against fp32 for the open weights: the SDR change against the true stems on the same clips.

Run from the repository root:  .venv/bin/python benchmarks/bench_open_weights.py [--clips N] [--seconds S]
[--per-kit N] [--weights DIR] [--sections quality,bf16]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from lars_service.evaluation.baselines import ideal_ratio_mask  # noqa: E402
from lars_service.evaluation.metrics import average_results, evaluate, format_table  # noqa: E402
from lars_service.fallback.informed_nmfd import InformedNmfd  # noqa: E402
from lars_service.fallback.nmfd import separate_drums  # noqa: E402
from lars_service.larsnet import STEMS, Separator  # noqa: E402
from lars_service.larsnet.compact_weights import default_open_weights_dir, load_compact_model, read_compact_weights  # noqa: E402
from lars_service.larsnet.mask_models import CompactMasks  # noqa: E402
from lars_service.larsnet.transforms_numpy import HOP, N_FFT  # noqa: E402
from lars_service.processors.hybrid import hybrid_separator  # noqa: E402
from lars_service.synthesis.dataset import SyntheticDrums, load_kits  # noqa: E402
from lars_service.synthesis.sources import HELDOUT, SOURCES_BY_ID  # noqa: E402

#: other clips than training's validation (seed 1_000_003)
BENCHMARK_SEED = 2_000_029
HYBRID = "hybrid (larsnet-hybrid)"
HYBRID_UNFILTERED = "hybrid, masks (no stereo filter)"
THREADS = 2


def heldout_clips(count: int, seconds: float, kits: str = "heldout") -> list[tuple[np.ndarray, np.ndarray]]:
    """(mixture (2, n), stems (5, 2, n)) grooves from the held-out kits (or the kit at the path `kits`), without
    augmentation."""
    data = SyntheticDrums(load_kits(kits), seed=BENCHMARK_SEED, crop_seconds=seconds, examples_per_epoch=count,
                          augment=False)
    return [data[index] for index in range(count)]


def open_separator(weights_dir: Path, precision: str = "fp32") -> Separator:
    model = load_compact_model(read_compact_weights(weights_dir))
    return Separator(None, STEMS, mask_model=CompactMasks(model, torch.device("cpu"), precision))


def quality(clips: list, weights_dir: Path) -> dict[str, dict]:
    """Average scores of ours, NMFD, and the ideal masks per bin and per band of ours over the clips."""
    ours = open_separator(weights_dir)
    bands = read_compact_weights(weights_dir).document["model_config"]["bands"]
    onnx_weights = read_compact_weights(weights_dir, "onnx")
    hybrid, without_filter = hybrid_separator(onnx_weights, None), hybrid_separator(onnx_weights, None, False)
    methods = {
        "open weights": lambda mixture, stems: ours.separate(mixture),
        "nmfd": lambda mixture, stems: separate_drums(mixture, 44100),
        HYBRID_UNFILTERED: lambda mixture, stems: without_filter.separate(mixture, refine=InformedNmfd(44100, N_FFT, HOP)),
        HYBRID: lambda mixture, stems: hybrid.separate(mixture, refine=InformedNmfd(44100, N_FFT, HOP)),
        "ideal_band_mask": lambda mixture, stems: ideal_ratio_mask(dict(zip(STEMS, stems)), mixture, bands=bands),
        "ideal_ratio_mask": lambda mixture, stems: ideal_ratio_mask(dict(zip(STEMS, stems)), mixture),
    }
    return {name: average_results([evaluate(dict(zip(STEMS, stems)), separate(mixture, stems)) for mixture, stems in clips])
            for name, separate in methods.items()}


def margins(scores: dict[str, dict]) -> str:
    """The hybrid's SDR minus the network's, and minus the better of the network and NMFD, per stem and mean
    (rows to print under `format_table(scores)`)."""
    def value(method: str, stem: str) -> float:
        result = scores[method]
        return result["mean"]["sdr"] if stem == "mean" else result["stems"][stem]["sdr"]

    rows = {"hybrid - open weights": ("open weights",), "hybrid - max(open, nmfd)": ("open weights", "nmfd")}
    width = max(len(name) for name in (*scores, *rows))
    return "\n".join(f"{name:<{width}}" + "".join(
        f"{value(HYBRID, stem) - max(value(other, stem) for other in others):>+9.2f}" for stem in (*STEMS, "mean"))
        for name, others in rows.items())


def bf16_change(clips: list, weights_dir: Path) -> dict[str, dict]:
    scores = {}
    for precision in ("fp32", "bf16"):
        separator = open_separator(weights_dir, precision)
        scores[precision] = average_results([evaluate(dict(zip(STEMS, stems)), separator.separate(mixture))
                                             for mixture, stems in clips])
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12, help="held-out clips (default 12)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each clip (default 10)")
    parser.add_argument("--per-kit", type=int, default=6, help="clips of each held-out kit alone (default 6)")
    parser.add_argument("--weights", type=Path, default=default_open_weights_dir(), help="compact weights directory")
    parser.add_argument("--sections", default="quality,bf16")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    sections = set(args.sections.split(","))
    weights = read_compact_weights(args.weights)
    print(f"weights: {weights.document['name']} {weights.document['version']} ({weights.sha256[:12]}), "
          f"torch {torch.__version__}, {THREADS} threads")
    clips = heldout_clips(args.clips, args.seconds) if sections & {"quality", "bf16"} else []
    if "quality" in sections:
        print(f"\n== quality: held-out kits, {args.clips} clips x {args.seconds:g} s, SDR (dB) ==")
        scores = quality(clips, args.weights)
        print(format_table(scores, metric="sdr"))
        print(margins(scores))
        for kit in HELDOUT:
            print(f"\n== quality: {kit} alone, {args.per_kit} clips x {args.seconds:g} s, SDR (dB) ==")
            scores = quality(heldout_clips(args.per_kit, args.seconds, str(SOURCES_BY_ID[kit].location)), args.weights)
            print(format_table(scores, metric="sdr"))
            print(margins(scores))
    if "bf16" in sections:
        scores = bf16_change(clips, args.weights)
        print(f"\n== bf16 against fp32 (open weights), SDR (dB) on the same held-out clips ==")
        print(f"{'stem':10s} {'fp32':>8s} {'bf16':>8s} {'change':>8s}")
        for stem in (*STEMS, "mean"):
            fp32 = scores["fp32"]["mean" if stem == "mean" else "stems"]
            bf16 = scores["bf16"]["mean" if stem == "mean" else "stems"]
            fp32, bf16 = (fp32["sdr"], bf16["sdr"]) if stem == "mean" else (fp32[stem]["sdr"], bf16[stem]["sdr"])
            print(f"{stem:10s} {fp32:8.2f} {bf16:8.2f} {bf16 - fp32:+8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
