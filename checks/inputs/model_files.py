"""What a model file is and what it holds, learned without running code from it.

A model file is the pull request's data: loading it must not run its code. scikit-learn models
load through skops with only trusted types (a pickle/joblib only with `allow_pickle: true`), as
everywhere in mlgate (checks/inputs/predictions.py `load_model`); the loaded object's parameters
are then counted (checks/gates/parameters.py) and it can be timed.

Other formats are read as data only:
- `.safetensors`: the JSON header gives every tensor's dtype and shape; zeros are counted from the
  raw bytes (bfloat16 and float8 by their bit patterns), never executed;
- `.npz`: numpy arrays, read with `allow_pickle=False` (an object array is refused, not unpickled);
- `.onnx`: the graph's initializers, when the `onnx` package is installed (protobuf parsing only);
  without it the count is unknown and the result says why.
Anything else has a size and an "unknown" parameter count with a note; it is never loaded.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlgate.checks.errors import InputError
from mlgate.checks.gates.parameters import ParameterCount, ParameterPart
from mlgate.checks.inputs.predictions import load_model

SKLEARN_SUFFIXES = (".skops", ".pkl", ".pickle", ".joblib")
MAX_HEADER = 100 * 1024 * 1024
_CHUNK = 1 << 24
# safetensors dtype -> (numpy dtype read, mask of the bits that make a value non-zero or None: compare with 0)
_SAFETENSORS_DTYPES: dict[str, tuple[str, int | None]] = {
    "F64": ("<f8", None), "F32": ("<f4", None), "F16": ("<f2", None), "BF16": ("<u2", 0x7FFF),
    "F8_E4M3": ("u1", 0x7F), "F8_E5M2": ("u1", 0x7F),
    "I64": ("<i8", None), "I32": ("<i4", None), "I16": ("<i2", None), "I8": ("i1", None),
    "U64": ("<u8", None), "U32": ("<u4", None), "U16": ("<u2", None), "U8": ("u1", None), "BOOL": ("u1", None),
}


@dataclass
class ModelFile:
    """A model file as the budget and explain gates see it."""

    path: Path
    format: str  # skops, pickle, safetensors, npz, onnx, or the suffix of a format mlgate cannot read
    size_bytes: int
    estimator: Any = None  # a loaded scikit-learn model (it can be timed and explained), else None
    parameters: ParameterCount | None = None  # None: not countable without running code
    notes: list[str] = field(default_factory=list)


def inspect_model(path: Path, *, allow_pickle: bool = False, trusted: Sequence[str] = ()) -> ModelFile:
    """Size, parameters and (for scikit-learn files) the loaded estimator of the model at `path`."""
    if not path.is_file():
        raise InputError("model file not found", where=str(path))
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if suffix in SKLEARN_SUFFIXES:
        from mlgate.checks.gates.parameters import count_parameters

        estimator, note = load_model(path, allow_pickle=allow_pickle, trusted=trusted)
        fmt = "skops" if suffix == ".skops" else "pickle"
        return ModelFile(path, fmt, size, estimator, count_parameters(estimator), [note])
    if suffix == ".safetensors":
        return ModelFile(path, "safetensors", size, parameters=_safetensors(path),
                         notes=["parameters read from the safetensors header and tensor bytes; latency needs a "
                                "scikit-learn model and is not measured"])
    if suffix == ".npz":
        return ModelFile(path, "npz", size, parameters=_npz(path),
                         notes=["parameters are the arrays of the .npz file; latency is not measured"])
    if suffix == ".onnx":
        counted = _onnx(path)
        note = ("parameters are the ONNX graph's initializers" if counted is not None else
                "an ONNX file: counting its initializers needs the `onnx` package, which is not installed; "
                "parameters unknown")
        return ModelFile(path, "onnx", size, parameters=counted, notes=[note + "; latency is not measured"])
    return ModelFile(path, suffix.lstrip(".") or "unknown", size, notes=[
        f"{suffix or 'a file without a suffix'}: not a format mlgate can read without running code from it "
        "(scikit-learn .skops, .safetensors, .npz, .onnx): parameters and latency unknown"])


def _safetensors(path: Path) -> ParameterCount:
    where = str(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise InputError("not a safetensors file: shorter than its 8-byte header length", where=where)
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER or n > size - 8:
            raise InputError(f"not a safetensors file: header length {n} does not fit the file", where=where)
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"not a safetensors file: its header is not JSON ({exc})", where=where) from None
    if not isinstance(header, dict):
        raise InputError("not a safetensors file: its header is not a JSON object", where=where)
    data_start = 8 + n
    out = ParameterCount()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if any(int(d) < 0 for d in shape):
                raise ValueError("negative dimension")
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"safetensors tensor {name!r}: malformed header entry ({exc})", where=where) from None
        if dtype not in _SAFETENSORS_DTYPES:
            out.parts.append(ParameterPart(name, "safetensors", dtype, count, None))
            continue
        np_dtype, mask = _SAFETENSORS_DTYPES[dtype]
        itemsize = np.dtype(np_dtype).itemsize
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end
                and data_start + end <= size and end - start == count * itemsize):
            raise InputError(f"safetensors tensor {name!r}: data_offsets {[start, end]} do not match its "
                             f"{dtype} shape {shape} within the file", where=where)
        zeros = _count_zeros(path, data_start + start, count, np_dtype, mask)
        out.parts.append(ParameterPart(name, "safetensors", dtype, count, zeros))
    return out


def _count_zeros(path: Path, offset: int, count: int, dtype: str, mask: int | None) -> int:
    if count == 0:
        return 0
    values = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,))
    zeros = 0
    for i in range(0, count, _CHUNK):
        chunk = np.asarray(values[i:i + _CHUNK])
        nonzero = np.count_nonzero(chunk & mask) if mask is not None else np.count_nonzero(chunk)
        zeros += len(chunk) - int(nonzero)
    del values
    return zeros


def _npz(path: Path) -> ParameterCount:
    out = ParameterCount()
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in data.files:
                arr = data[name]
                numeric = arr.dtype.kind in "biufc"
                zeros = int(arr.size - np.count_nonzero(arr)) if numeric else None
                out.parts.append(ParameterPart(name, "npz", str(arr.dtype), int(arr.size), zeros))
    except ValueError as exc:  # an object array: refused, not unpickled
        raise InputError(f"cannot read the .npz without unpickling: {exc}", where=str(path)) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"not a readable .npz file: {exc}", where=str(path)) from None
    return out


def _onnx(path: Path) -> ParameterCount | None:
    try:
        import onnx  # type: ignore[import-not-found]
        from onnx import numpy_helper  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise InputError(f"not a readable ONNX file: {type(exc).__name__}: {exc}", where=str(path)) from None
    out = ParameterCount()
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        zeros = int(arr.size - np.count_nonzero(arr)) if arr.dtype.kind in "biufc" else None
        out.parts.append(ParameterPart(init.name, "onnx", str(arr.dtype), int(arr.size), zeros))
    return out


def default_model_path(config: Any, given: str | None, key: str) -> str:
    """The model a gate reads: its own `<key>`, else `artifacts.model`, else `predictions.model.path`."""
    if given:
        return given
    artifacts = getattr(config, "artifacts", None)
    if artifacts is not None and getattr(artifacts, "model", None):
        return str(artifacts.model)
    source = getattr(getattr(config, "predictions", None), "model", None)
    if source is not None and getattr(source, "path", None):
        return str(source.path)
    from mlgate.checks.errors import ConfigError

    raise ConfigError(f"no model to read: set {key}, artifacts.model or predictions.model.path")


def model_features(estimator: Any, given: Sequence[str] | None, where: str, key: str) -> list[str]:
    """The columns the model predicts from: as configured, else the names it was fitted with."""
    if given:
        return list(given)
    names = [str(n) for n in getattr(estimator, "feature_names_in_", [])]
    if not names:
        raise InputError(f"the model does not record its feature names; list them in {key}", where=where)
    return names


def model_input(estimator: Any, frame: Any) -> Any:
    """A model fitted on a DataFrame gets one (with its column names); one fitted on an array, the array."""
    return frame if hasattr(estimator, "feature_names_in_") else frame.to_numpy()
