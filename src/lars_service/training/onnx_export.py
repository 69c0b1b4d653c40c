"""The compact model as one ONNX file: input `magnitude` (batch, 2, 2049, T) float32, output `masks`
(batch, 5, 2, 2049, T), with metadata `stems` and `family` for the ONNX Runtime path."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from lars_service.larsnet import STEMS
from lars_service.larsnet.compact import BINS, CompactLarsNet

EXAMPLE_FRAMES = 64
OPSET = 18


def export_onnx(model: CompactLarsNet, path: Path) -> Path:
    """Write `model` (fp32, eval) to `path` atomically; batch and frame axes are dynamic.

    The dynamo exporter runs with `optimize=False`: its optimiser merges initializers of equal value,
    which renames weights the runtime loader may look for. The softmax is written out in the model
    (exp of max-shifted logits over their sum), so the graph computes exactly what torch does.
    """
    import onnx

    model = model.eval()
    example = torch.rand(1, 2, BINS, EXAMPLE_FRAMES)
    batch, frames = torch.export.Dim("batch", min=1), torch.export.Dim("frames", min=8)
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    program = torch.onnx.export(
        model, (example,), dynamo=True, optimize=False, opset_version=OPSET, input_names=["magnitude"],
        output_names=["masks"], verbose=False, dynamic_shapes={"magnitude": {0: batch, 3: frames}}, external_data=False,
    )
    proto = program.model_proto
    for key, value in (("stems", ",".join(STEMS)), ("family", "compact")):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, str(temporary))
    os.replace(temporary, path)
    return path
