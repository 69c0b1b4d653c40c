"""Mask models on ONNX Runtime: what predicts the stems' soft masks from a segment's magnitude.

Two kinds, one interface (`MaskModel.masks`):
- the official LarsNet family: one U-Net per stem, each an ONNX graph built from its weights file
  (`onnx_graph.py`), input `magnitude` (batch, 2, F, T), output `mask` (batch, 2, F, T);
- a five-head model: ONE ONNX file for all stems, input `magnitude` (batch, 2, F, T), output `masks`
  (batch, 5, 2, F, T) in the order its metadata `stems` names (kick,snare,toms,hihat,cymbals).
"""
from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lars_service.allocator import release_freed_memory
from lars_service.larsnet.checkpoints import UNET_FRAME_MULTIPLE, weights_file
from lars_service.larsnet.config import STEMS, LarsNetConfig
from lars_service.larsnet.errors import CorruptCheckpointError

from .model_files import machine_optimized_path, onnx_path, remove_other_optimized, stamp_matches, unet_model_bytes
from .onnx_graph import EDGE_REACH_FRAMES, INPUT_NAME

FIVE_HEAD_OUTPUT = "masks"
#: caps the intra-op threads of this process's sessions: a `batch` worker's share of the cores (batch/worker.py)
THREADS_VARIABLE = "LARS_THREADS"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS says, else all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def intra_op_threads(threads: int | None = None) -> int:
    """The threads one separation computes on: `threads`, else $LARS_THREADS, else the CPUs this process may use."""
    return threads or int(os.environ.get(THREADS_VARIABLE) or 0) or usable_cpus()


def session_options(threads: int | None = None) -> Any:
    """ORT session options: all graph optimizations, `threads` intra-op threads (default: $LARS_THREADS, else
    the CPUs this process may use), one inter-op thread (the graph is a chain), threads that spin between a run's
    operators and sleep once the run ends, and the process's one shared arena for activations (`shared_arena`).

    Each session has its own thread pool, and the official family runs five sessions one after the other:
    with ORT's default spinning, which goes on after a run, the idle sessions' threads kept spinning while the
    next one computed (30% more CPU time for five U-Nets in a row, and slower on a busy machine). Threads that
    never spin wait to be woken at each of a run's ~60 operators: the small ones (layout reorders, the decoder's
    interleave) then took longer on two threads than on one, 177 ms per U-Net segment against 159 with spinning.
    So the threads spin within a run and stop at its end (`session.force_spinning_stop`): five U-Nets over 60 s
    in process 4.73 s against 4.88 s never spinning (medians of 7 paired rounds).

    Memory (peak RSS of `separate`, five official U-Nets, 60 s; README, Performance: memory): each session's own
    arena kept the largest run it had seen, five times over (2.70 GB in all); glibc's heap in their place
    (arena off) kept freed activations per thread, fragmented (0.85-1.19 GB, varying from run to run); one
    arena shared by the five sessions, without ORT's memory patterns (which plan one block per run and
    input shape), holds one run's activations at a time: 746-760 MB, 772 MB over 600 s. The weights are kept
    out of it (`use_device_allocator_for_initializers`): an arena rounds them up and never gives them back.
    """
    import onnxruntime

    shared_arena()
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.use_env_allocators", "1")
    options.add_session_config_entry("session.use_device_allocator_for_initializers", "1")
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


_ARENA_LOCK = threading.Lock()
_ARENA: list[bool] = []  # [True] once this process's shared arena is registered


def shared_arena() -> None:
    """Register, once per process, the CPU arena that every session made with `session_options` allocates its
    activations from: chunks the size asked for (no rounding up to a power of two), kept for the next run of
    any session, so the arena holds the largest single run, not one run per session."""
    import onnxruntime

    with _ARENA_LOCK:
        if _ARENA:
            return
        memory = onnxruntime.OrtMemoryInfo("Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                           onnxruntime.OrtMemType.DEFAULT)
        same_as_requested = 1  # arena_extend_strategy: kNextPowerOfTwo 0, kSameAsRequested 1
        onnxruntime.create_and_register_allocator(memory, onnxruntime.OrtArenaCfg(0, same_as_requested, -1, -1))
        _ARENA.append(True)


def create_session(model: bytes | Path, threads: int | None = None, *, optimized: bool = False,
                   save_optimized: Path | None = None) -> Any:
    """An ORT CPU session of an ONNX model given as bytes or a file.

    Bytes are written to a temporary file and loaded from there: ORT's Python session keeps the bytes it was
    built from for as long as it lives (to rebuild itself on a provider fallback), a second copy of every
    weight next to ORT's own (46 MB per official U-Net, 230 MB for five).

    Args:
        optimized: the file is ORT's optimized form of a model for this machine (`model_files.machine_optimized_path`):
            loaded without optimizing it again.
        save_optimized: a file ORT writes the optimized graph to while it loads the model.
    """
    import onnxruntime

    if not isinstance(model, bytes):
        options = session_options(threads)
        if optimized:
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        if save_optimized is not None:
            options.optimized_model_filepath = str(save_optimized)
            options.log_severity_level = 3  # not ORT's warning that the file is machine-specific: its name says so
        return onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory(prefix="lars-onnx-") as scratch:
        path = Path(scratch) / "model.onnx"
        path.write_bytes(model)
        return create_session(path, threads)


@dataclass
class MaskModel:
    """One ORT session predicting the masks of `stems`.

    Attributes:
        session: the onnxruntime.InferenceSession.
        stems: the stems its output holds, in output order.
        bins: F, the frequency bins it takes (the lowest F of the 2049).
        five_heads: output (batch, stems, 2, F, T) when True, else (batch, 2, F, T) for its one stem.
        stale_model_file: the model file beside the weights was not made from them by this release's graph
            (`official_unet` then built the graph in memory; `models convert` rewrites the file).
        edge_reach: for the official U-Net, `onnx_graph.EDGE_REACH_FRAMES`: a segment whose frames from V on are
            silent may be cut to `frames_needed(V, T)` frames with the same masks at frames < V; None where that
            is not known (the five-head models), which always run whole segments.
    """

    session: Any
    stems: tuple[str, ...]
    bins: int
    five_heads: bool
    stale_model_file: bool = False
    edge_reach: int | None = None

    def frames_needed(self, valid_frames: int, segment_frames: int) -> int:
        """Frames of a segment, silent from `valid_frames` on, this model must see for exact masks on the valid ones:
        `valid_frames + edge_reach` rounded up to a multiple of 64, at most `segment_frames` (all of them where the
        reach is unknown)."""
        if self.edge_reach is None:
            return segment_frames
        return min(segment_frames, -(-(valid_frames + self.edge_reach) // UNET_FRAME_MULTIPLE) * UNET_FRAME_MULTIPLE)

    def masks(self, segments: np.ndarray) -> dict[str, np.ndarray]:
        """Soft masks of this model's stems.

        Args:
            segments: (n_segments, 2, bins_total >= F, T) float32 folded mixture magnitude.

        Returns:
            {stem: (n_segments, 2, F, T) float32 in [0, 1]}.
        """
        magnitude = np.ascontiguousarray(segments[:, :, : self.bins])
        (output,) = self.session.run(None, {INPUT_NAME: magnitude})
        if self.five_heads:
            return {stem: output[:, index] for index, stem in enumerate(self.stems)}
        return {self.stems[0]: output}


def official_unet(models_dir: Path, stem: str, config: LarsNetConfig, threads: int | None = None) -> MaskModel:
    """The official U-Net of `stem` as an ORT session: from its model file `<stem>/pretrained_<stem>_unet.onnx`
    (or this machine's optimized form of it, `model_file_session`) when that was made from the current weights,
    else built in memory from the weights (`.safetensors` twin preferred, else `.pth`).

    Raises:
        UnsafeCheckpointError, CorruptCheckpointError, CheckpointShapeError: as `pth_reader` and `check_state_dict`.
    """
    weights = weights_file(models_dir, stem, config)
    model_file = onnx_path(config.checkpoint_path(models_dir, stem))
    session = model_file_session(model_file, weights, threads) if model_file.is_file() else None
    if session is not None:
        return MaskModel(session, (stem,), config.bins[stem], five_heads=False, edge_reach=EDGE_REACH_FRAMES)
    session = create_session(unet_model_bytes(weights, stem, config.bins[stem]), threads)
    return MaskModel(session, (stem,), config.bins[stem], five_heads=False, stale_model_file=model_file.is_file(),
                     edge_reach=EDGE_REACH_FRAMES)


def model_file_session(model_file: Path, weights: Path, threads: int | None = None) -> Any | None:
    """A session of a U-Net's model file, None when the file was not made from `weights` as they are now (its stamp)
    or cannot be read.

    From this machine's optimized form of the file where there is one (`model_files.machine_optimized_path`),
    loaded as it is; else from the file itself, and ORT's optimized graph is kept as that form for the next load
    (written under a temporary name and renamed; not at all where the folder is not writable, and where writing it
    fails the file is loaded without it).
    """
    optimized = machine_optimized_path(model_file)
    if optimized is not None and optimized.is_file():
        session = _session_if_stamped(optimized, weights, threads, optimized=True)
        if session is not None:
            return session
    saving = None
    if optimized is not None:
        try:
            descriptor, name = tempfile.mkstemp(prefix=f".{optimized.name}.", suffix=".onnx", dir=optimized.parent)
            os.close(descriptor)
            saving = Path(name)
        except OSError:
            saving = None  # a read-only folder: every load optimizes the graph again
    try:
        session = _session_if_stamped(model_file, weights, threads, save_optimized=saving)
        if session is None and saving is not None:  # ORT could not write the optimized form (a full disk)
            saving.unlink(missing_ok=True)
            saving = None
            session = _session_if_stamped(model_file, weights, threads)
        if session is not None and saving is not None and saving.stat().st_size > 0:
            os.replace(saving, optimized)
            saving = None
            remove_other_optimized(model_file, optimized)
        return session
    finally:
        if saving is not None:
            saving.unlink(missing_ok=True)


def _session_if_stamped(model: Path, weights: Path, threads: int | None, **loading: Any) -> Any | None:
    """`create_session(model, threads, **loading)` when the model's stamp says it was made from `weights` as they
    are now (`model_files.stamp_matches`); None when it was not, or ORT cannot read it."""
    try:
        session = create_session(model, threads, **loading)
    except Exception:  # noqa: BLE001 - ORT raises its own exception types; the caller rebuilds from the weights
        return None
    return session if stamp_matches(session.get_modelmeta().custom_metadata_map, weights) else None


def official_unets(models_dir: Path, stems: tuple[str, ...], config: LarsNetConfig,
                   threads: int | None = None) -> list[MaskModel]:
    """One U-Net session per stem of `stems`, from `<models_dir>/<stem>/` (see `official_unet`), made on as many
    threads as the sessions compute on (ORT's session set-up, graph optimization included, runs without the GIL).

    Building each graph and session leaves freed temporaries several times the weights; they are handed back
    to the OS afterwards (`allocator.release_freed_memory`) rather than kept as idle resident memory.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(len(stems), intra_op_threads(threads)) or 1, thread_name_prefix="lars-load") as pool:
        unets = list(pool.map(lambda stem: official_unet(models_dir, stem, config, threads), stems))
    release_freed_memory()
    return unets


def five_head_model(path: Path, threads: int | None = None) -> MaskModel:
    """A five-head mask model from one ONNX file: input `magnitude` (batch, 2, F, T), output `masks`
    (batch, 5, 2, F, T), metadata `stems` naming the five heads in order.

    Raises:
        CorruptCheckpointError: the file is not such a model (the message says what differs).
    """
    try:
        session = create_session(Path(path), threads)
    except Exception as error:  # noqa: BLE001 - ORT raises its own exception types for unreadable models
        raise CorruptCheckpointError(f"cannot load the ONNX model {path} ({error}). Re-install the weights.") from error
    stems = tuple(session.get_modelmeta().custom_metadata_map.get("stems", ",".join(STEMS)).split(","))
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    if [item.name for item in inputs] != [INPUT_NAME]:
        problems.append(f"inputs {[item.name for item in inputs]} (expected ['{INPUT_NAME}'])")
    if FIVE_HEAD_OUTPUT not in [item.name for item in outputs] or len(outputs[0].shape) != 5:
        problems.append(f"outputs {[(item.name, item.shape) for item in outputs]} (expected '{FIVE_HEAD_OUTPUT}' of rank 5)")
    if sorted(stems) != sorted(STEMS):
        problems.append(f"metadata stems {','.join(stems)} (expected {','.join(STEMS)})")
    bins = inputs[0].shape[2] if inputs and len(inputs[0].shape) == 4 else None
    if not isinstance(bins, int):
        problems.append(f"input shape {inputs[0].shape if inputs else None} (expected a fixed F on axis 2)")
    if problems:
        raise CorruptCheckpointError(f"{path} is not a five-head mask model: {'; '.join(problems)}. "
                                     "Re-install the weights, or export the model with that contract.")
    return MaskModel(session, stems, bins, five_heads=True)
