"""Reading LarsNet weights as numpy arrays without torch: official `.pth` checkpoints and `.safetensors` files.

A `.pth` file as `torch.save` writes it is a zip archive: `<name>/data.pkl` (a pickle of the checkpoint dict
whose tensors are persistent references to storages) and `<name>/data/<key>` (each storage's raw bytes,
stored uncompressed). The pickle is read by an unpickler that knows only what a state dict needs: the
tensor-rebuilding function, the storage types, OrderedDict, and the two numpy globals (plus latin-1 byte
decoding) that rebuild the numpy float64 `val_loss` of the official training checkpoints. Any other global
is refused before anything of the file runs, the same promise as torch's weights-only loading in
`larsnet/weights.py`, with the same messages. Only the storages of `model_state_dict` are copied out of the
memory-mapped file: the optimizer state (two thirds of each official 118 MB file) is never read.
"""
from __future__ import annotations

import codecs
import collections
import mmap
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lars_service.larsnet.checkpoints import weights_format
from lars_service.larsnet.errors import CorruptCheckpointError, UnsafeCheckpointError

#: torch storage class name -> the numpy dtype of its elements (bfloat16 is widened to float32 on reading)
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16, "BFloat16Storage": np.uint16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_ZIP_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # the fixed 30 bytes before a zip member's name


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _Storage:
    """A persistent reference from the pickle: which archive member holds the bytes, and their dtype."""

    key: str
    type_name: str
    numel: int


@dataclass(frozen=True)
class _TensorReference:
    """A tensor as the pickle describes it; its bytes are read only if it belongs to the state dict."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> _TensorReference:
    return _TensorReference(storage, offset, tuple(shape), tuple(stride))


def _rebuild_parameter(data: _TensorReference, *_: Any) -> _TensorReference:
    return data


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for bytes (always latin-1); other codecs are refused."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"Trying to load unsupported GLOBAL _codecs.encode with codec {encoding}")
    return codecs.encode(text, "latin1")


_NUMPY_SCALAR = np._core.multiarray.scalar
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
    ("numpy._core.multiarray", "scalar"): _NUMPY_SCALAR,
    ("numpy.core.multiarray", "scalar"): _NUMPY_SCALAR,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _StateDictUnpickler(pickle.Unpickler):
    """Builds only ALLOWED_GLOBALS; tensors become _TensorReference, storages _Storage."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"Trying to load unsupported GLOBAL {module}.{name}")
        return allowed

    def persistent_load(self, reference: Any) -> _Storage:
        # ("storage", storage type, key, location, numel[, view metadata of the legacy format])
        if not (isinstance(reference, tuple) and len(reference) >= 5 and reference[0] == "storage"
                and isinstance(reference[1], _StorageType)):
            raise pickle.UnpicklingError(f"unsupported persistent reference {reference!r:.80}")
        return _Storage(str(reference[2]), reference[1].name, int(reference[4]))


def read_numpy_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The U-Net arrays of one weights file: a `.safetensors` file, or a `.pth` checkpoint's `model_state_dict`.

    Returns:
        {name: array} in the checkpoint's dtypes (float32 weights, int64 `num_batches_tracked`), each a copy
        that does not keep the file open.

    Raises:
        UnsafeCheckpointError: the pickle asks for a global outside ALLOWED_GLOBALS; nothing of it ran.
        CorruptCheckpointError: truncated, not a torch checkpoint, a legacy (pre-1.6) torch file, or no
            model state dict inside.
    """
    path = Path(path)
    file_format = weights_format(path)
    if file_format == "safetensors":
        return _read_safetensors(path)
    if file_format == "pickle":
        _refuse_legacy(path)
    try:
        with zipfile.ZipFile(path) as archive, path.open("rb") as file:
            members = {info.filename: info for info in archive.infolist()}
            pickle_name = next((name for name in members if name.endswith("/data.pkl") or name == "data.pkl"), None)
            if pickle_name is None:
                raise CorruptCheckpointError.unreadable(path, "no data.pkl inside")
            prefix = pickle_name[: -len("data.pkl")]
            byte_order = archive.read(prefix + "byteorder").decode() if prefix + "byteorder" in members else "little"
            if byte_order != "little":
                raise CorruptCheckpointError.unreadable(path, f"{byte_order}-endian storages")
            checkpoint = _unpickle(path, archive.read(pickle_name))
            state = checkpoint.get("model_state_dict", checkpoint) if isinstance(checkpoint, dict) else None
            if not isinstance(state, dict) or not all(isinstance(value, _TensorReference) for value in state.values()):
                raise CorruptCheckpointError.no_state_dict(path)
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return {name: _materialise(tensor, mapped, members, prefix, path) for name, tensor in state.items()}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, struct.error) as error:
        raise CorruptCheckpointError.unreadable(path, str(error).splitlines()[0] if str(error) else type(error).__name__) from error


def _unpickle(path: Path, data: bytes) -> Any:
    import io

    try:
        return _StateDictUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError.refused(path, str(error)) from error
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise CorruptCheckpointError.unreadable(path, f"{type(error).__name__}: {error}") from error


def _refuse_legacy(path: Path) -> None:
    """A plain pickle or torch's legacy (pre-1.6) format: its pickles are checked (a hostile one is refused as
    such), then it is refused as a format this reader does not take."""
    import io

    data = path.read_bytes()
    stream = io.BytesIO(data)
    for _ in range(4):  # magic number, protocol version, system info, the checkpoint itself
        try:
            _StateDictUnpickler(stream).load()
        except pickle.UnpicklingError as error:
            raise UnsafeCheckpointError.refused(path, str(error)) from error
        except Exception:  # noqa: BLE001 - anything else: not a checkpoint we can read; refused below
            break
        if stream.tell() >= len(data):
            break
    raise CorruptCheckpointError.unreadable(
        path, "a legacy torch file (saved before torch 1.6) or a plain pickle; re-save it with a current torch, "
        "or run with `--runtime torch`")


def _materialise(tensor: _TensorReference, mapped: mmap.mmap, members: dict[str, zipfile.ZipInfo], prefix: str,
                 path: Path) -> np.ndarray:
    """Copy one tensor's elements out of its storage member (stored uncompressed) into an owned array."""
    storage = tensor.storage
    info = members.get(f"{prefix}data/{storage.key}")
    if info is None or info.compress_type != zipfile.ZIP_STORED:
        raise CorruptCheckpointError.unreadable(path, f"storage {storage.key} missing or compressed")
    signature, *_, name_length, extra_length = _ZIP_LOCAL_HEADER.unpack_from(mapped, info.header_offset)
    if signature != b"PK\x03\x04":
        raise CorruptCheckpointError.unreadable(path, f"storage {storage.key}: bad zip member header")
    dtype = np.dtype(STORAGE_DTYPES[storage.type_name])
    if info.file_size < storage.numel * dtype.itemsize:
        raise CorruptCheckpointError.unreadable(path, f"storage {storage.key} is shorter than its {storage.numel} elements")
    start = info.header_offset + _ZIP_LOCAL_HEADER.size + name_length + extra_length
    elements = np.frombuffer(mapped, dtype=dtype, count=storage.numel, offset=start)
    last = tensor.offset + sum((size - 1) * step for size, step in zip(tensor.shape, tensor.stride) if size > 0)
    if tensor.offset < 0 or min(tensor.stride, default=0) < 0 or (all(tensor.shape) and last >= storage.numel):
        raise CorruptCheckpointError.unreadable(path, f"a tensor reaches outside storage {storage.key}")
    view = np.lib.stride_tricks.as_strided(
        elements[tensor.offset:], shape=tensor.shape, strides=[step * dtype.itemsize for step in tensor.stride])
    array = np.array(view, copy=True)
    if storage.type_name == "BFloat16Storage":  # bfloat16 is the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All arrays of a safetensors file; CorruptCheckpointError when it cannot be parsed."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise CorruptCheckpointError.unreadable_converted(path, error) from error
