"""Writing trained weights: safetensors + config.json (+ the ONNX file for the compact family)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lars_service.larsnet import STEMS
from lars_service.larsnet.config import load_config

from lars_service.larsnet.compact_weights import CONFIG_NAME, ONNX_NAME, WEIGHTS_NAME

from .families import StackedUNets

RELEASE_LICENSE = "CC-BY-4.0"


def weights_license(sources: list[dict[str, Any]]) -> str:
    """The licence weights trained on `sources` ({"name", "license", "permissive"}) can be released under.

    CC-BY-4.0 (attribution, which the CC-BY kits need) when every source is permissive (CC0, CC-BY, MIT,
    BSD); otherwise the weights carry the other sources' terms and are not for release.
    """
    others = sorted({source["license"] for source in sources if not source["permissive"]})
    if not others:
        return RELEASE_LICENSE
    return "not for release: trained on kits under " + ", ".join(others)


def _write_json(document: dict[str, Any], path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def export_weights(model: nn.Module, family: str, model_config: dict[str, Any], directory: Path,
                   metadata: dict[str, Any], onnx: bool = False) -> dict[str, str]:
    """Write the weights of `model` to `directory`.

    compact: `model.safetensors`, `config.json` (family, model config, stems, plus `metadata`: name,
    version, licence, training sources, steps, seed, ...) and, with `onnx`, `model.onnx`.
    larsnet: the official layout `<stem>/pretrained_<stem>_unet.safetensors` (loadable with
    `--models-dir`) and `config.json` beside it.

    Returns:
        {"config": path, "weights": path or directory, ["onnx": path]}.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    if family == "larsnet":
        assert isinstance(model, StackedUNets)
        names = load_config().checkpoint_names
        for stem in STEMS:
            target = directory / stem / names[stem].replace(".pth", ".safetensors")
            target.parent.mkdir(exist_ok=True)
            save_file({key: value.contiguous() for key, value in model.unets[stem].state_dict().items()}, str(target))
        written["weights"] = str(directory)
    else:
        save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(directory / WEIGHTS_NAME))
        os.chmod(directory / WEIGHTS_NAME, 0o644)  # safetensors writes owner-only files; these are for everyone
        written["weights"] = str(directory / WEIGHTS_NAME)
        if onnx:
            from .onnx_export import export_onnx

            export_onnx(model, directory / ONNX_NAME)
            written["onnx"] = str(directory / ONNX_NAME)
    document = {"family": family, "model_config": model_config, "stems": list(STEMS), "weights": WEIGHTS_NAME,
                **({"onnx": ONNX_NAME} if "onnx" in written else {}),
                "sample_rate": 44100, "n_fft": 4096, "hop_length": 1024, **metadata}
    _write_json(document, directory / CONFIG_NAME)
    written["config"] = str(directory / CONFIG_NAME)
    return written
