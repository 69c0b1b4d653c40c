"""Export a training checkpoint as the service's shipped open weights (or anywhere else).

    .venv/bin/python scripts/export_open_weights.py --checkpoint /work/train-runs/open-permissive/best.pt

writes src/lars_service/larsnet/open_weights/lars-open/{model.safetensors, config.json, model.onnx}: the
weights, their config (family, model config, name, version (--version, default "1.0-step<N>"), licence, training sources with
their licences, steps, seed, validation history) and the ONNX file. Prints the config as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lars_service.larsnet.compact_weights import DEFAULT_OPEN_WEIGHTS, OPEN_WEIGHTS_DIR
from lars_service.training.api import export_checkpoint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, type=Path, help="best.pt or checkpoint.pt of a training run")
    parser.add_argument("--name", default=DEFAULT_OPEN_WEIGHTS, help=f"weights name (default {DEFAULT_OPEN_WEIGHTS})")
    parser.add_argument("--output-dir", type=Path, help=f"default: {OPEN_WEIGHTS_DIR}/<name>")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX file")
    parser.add_argument("--version", help='weights version (default "1.0-step<N>", N the checkpoint\'s step)')
    args = parser.parse_args()
    result = export_checkpoint(args.checkpoint, args.output_dir or OPEN_WEIGHTS_DIR / args.name, args.name,
                               onnx=not args.no_onnx, version=args.version)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
