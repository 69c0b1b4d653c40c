"""Exported weights: safetensors + config.json reload to the same model; the ONNX file computes the same masks."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lars_service.larsnet import STEMS
from lars_service.larsnet.compact import BINS, CompactConfig, CompactLarsNet
from lars_service.larsnet.compact_weights import load_compact_model, read_compact_weights
from lars_service.larsnet.errors import CheckpointShapeError, ConfigError
from lars_service.training.export import export_weights, weights_license

TINY = CompactConfig(bands=16, hidden=16, blocks=1)
SOURCES = [{"name": "shared-dev", "license": "CC0-1.0", "permissive": True},
           {"name": "hydrogen:rumpf_kit_z01_h2", "license": "CC-BY-3.0", "permissive": True}]


def tiny_model() -> CompactLarsNet:
    torch.manual_seed(1)
    model = CompactLarsNet(TINY)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model.eval()


def test_licence_is_permissive_only_for_permissive_sources() -> None:
    assert weights_license(SOURCES) == "CC-BY-4.0"
    copyleft = {"name": "hydrogen:ForzeeStereo", "license": "GPL-2.0-only", "permissive": False}
    assert weights_license([*SOURCES, copyleft]) == "not for release: trained on kits under GPL-2.0-only"


def test_safetensors_export_reloads_to_the_same_model(tmp_path: Path) -> None:
    model = tiny_model()
    written = export_weights(model, "compact", TINY.to_dict(), tmp_path, {"name": "tiny", "version": "7", "license": "CC-BY-4.0"})
    document = json.loads(Path(written["config"]).read_text())
    assert document["family"] == "compact" and document["stems"] == list(STEMS)
    assert document["model_config"] == TINY.to_dict() and document["n_fft"] == 4096 and document["hop_length"] == 1024
    weights = read_compact_weights(tmp_path)
    record = weights.record()
    assert record == {"name": "tiny", "version": "7", "license": "CC-BY-4.0", "sha256": weights.sha256, "official": False}
    reloaded = load_compact_model(weights)
    magnitude = torch.rand(1, 2, BINS, 21)
    torch.testing.assert_close(reloaded(magnitude), model(magnitude), atol=0, rtol=0)


def test_weights_that_do_not_fit_their_config_are_refused(tmp_path: Path) -> None:
    export_weights(tiny_model(), "compact", TINY.to_dict(), tmp_path, {"name": "tiny", "version": "1", "license": "CC0-1.0"})
    config = json.loads((tmp_path / "config.json").read_text())
    config["model_config"]["hidden"] = 32
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointShapeError, match="does not fit its config.json"):
        load_compact_model(read_compact_weights(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({**config, "family": "larsnet"}))
    with pytest.raises(ConfigError, match="not a compact-family config"):
        read_compact_weights(tmp_path)


@pytest.mark.skipif(not (importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnxscript")),
                    reason="onnxruntime and onnxscript are needed to export and check the ONNX file")
def test_onnx_export_computes_the_torch_masks(tmp_path: Path) -> None:
    import onnxruntime

    from lars_service.training.onnx_export import export_onnx

    model = tiny_model()
    export_onnx(model, tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [item.name for item in session.get_inputs()] == ["magnitude"]
    assert [item.name for item in session.get_outputs()] == ["masks"]
    assert session.get_modelmeta().custom_metadata_map == {"stems": ",".join(STEMS), "family": "compact"}
    magnitude = torch.rand(2, 2, BINS, 45) * 30  # other batch and frame counts than the export example
    masks = session.run(None, {"magnitude": magnitude.numpy()})[0]
    np.testing.assert_allclose(masks, model(magnitude).detach().numpy(), atol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is needed to run the shipped ONNX file")
def test_shipped_onnx_file_computes_what_the_shipped_safetensors_do() -> None:
    from lars_service.larsnet.compact_weights import default_open_weights_dir
    from lars_service.runtime.onnx_masks import five_head_model

    directory = default_open_weights_dir()
    model = load_compact_model(read_compact_weights(directory, "torch"))
    onnx_model = five_head_model(read_compact_weights(directory, "onnx").weights_path)
    assert onnx_model.stems == STEMS and onnx_model.bins == BINS
    magnitude = torch.rand(1, 2, BINS, 40) * 20
    masks = onnx_model.masks(magnitude.numpy())
    expected = model(magnitude).detach().numpy()
    for index, stem in enumerate(STEMS):
        np.testing.assert_allclose(masks[stem], expected[:, index], atol=2e-5)
