"""Parameter pytrees as ISO/IEC 15938-17 (NNR) bitstreams: one compressed data unit per tensor.

Lossless mode stores every tensor as NNR_PT_RAW_FLOAT (prod(dims) little-endian float32), which any NNR
decoder reads. Quantized mode stores each float tensor as uniform integers of `bits` bits with a per-tensor step
size: the NDU is NNR_PT_INT with the step size in a companion raw-float NDU named `<name>@step`. The
standard entropy-codes INT payloads with DeepCABAC; we store the integers fixed-length (two's complement,
little-endian), so only lossless mode is readable by third-party NNR decoders — the quantized payload is an
honest size/PSNR study, not a conformant DeepCABAC stream.
"""

from __future__ import annotations

import numpy as np

from bmff.box import BmffError
from bmff.nnr_units import (NNR_PT_INT, NNR_PT_RAW_FLOAT, CompressedDataUnit, ModelParameterSetUnit, NnrUnit,
                            NnrUnitBase, StartUnit, parse_units)

from .errors import UserError

STEP_SUFFIX = "@step"
_INT_DTYPES = {8: np.int8, 16: np.int16}
# nnr_decompressed_data_format codes we write for INT payloads: the integer width in bits.
_FORMAT_OF_BITS = {8: 8, 16: 16}


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dict of arrays -> {'a/b/c': array}, the topology element ids of the NNR units."""
    out: dict[str, np.ndarray] = {}
    for key in sorted(tree):
        if "/" in str(key) or STEP_SUFFIX in str(key):
            raise ValueError(f"parameter name {key!r} may not contain '/' or '{STEP_SUFFIX}'")
        name = f"{prefix}{key}"
        value = tree[key]
        if isinstance(value, dict):
            out.update(flatten(value, name + "/"))
        else:
            out[name] = np.asarray(value)
    return out


def unflatten(flat: dict[str, np.ndarray], template: dict) -> dict:
    """Rebuild a nested dict shaped like `template`, checking every name, shape and dtype."""
    expected = flatten(template)
    missing = sorted(set(expected) - set(flat))
    extra = sorted(set(flat) - set(expected))
    if missing or extra:
        raise UserError(f"model tensors do not fit the config: missing {missing[:5]}, unexpected {extra[:5]}")
    out: dict = {}
    for name, ref in expected.items():
        value = flat[name]
        if value.shape != ref.shape:
            raise UserError(f"tensor '{name}' has shape {list(value.shape)}, the config needs {list(ref.shape)}")
        node = out
        *parents, leaf = name.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value.astype(ref.dtype)
    return out


def _quantize(x: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """Uniform symmetric quantization: integers q with x ≈ q·step, |q| ≤ 2^(bits−1)−1."""
    qmax = (1 << (bits - 1)) - 1
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    step = peak / qmax if peak > 0 else 1.0
    q = np.clip(np.rint(x / step), -qmax, qmax).astype(_INT_DTYPES[bits])
    return q, step


def encode(tensors: dict[str, np.ndarray], bits: int | None = None) -> list[NnrUnitBase]:
    """Start unit, model parameter set, then one NDU per tensor (sorted by name)."""
    if bits is not None and bits not in _INT_DTYPES:
        raise UserError(f"quantization supports {sorted(_INT_DTYPES)} bits, not {bits}")
    units: list[NnrUnitBase] = [StartUnit(general_profile_idc=0), ModelParameterSetUnit()]
    for name, value in tensors.items():
        x = np.asarray(value, dtype=np.float32)
        dims = list(x.shape)
        if bits is None or x.size == 0:
            units.append(CompressedDataUnit(topology_elem_id=name, tensor_dimensions=dims,
                                            payload=x.astype("<f4").tobytes()))
            continue
        q, step = _quantize(x, bits)
        units.append(CompressedDataUnit(nnr_compressed_data_unit_payload_type=NNR_PT_INT, topology_elem_id=name,
                                        nnr_decompressed_data_format=_FORMAT_OF_BITS[bits], tensor_dimensions=dims,
                                        payload=q.astype(q.dtype.newbyteorder("<")).tobytes()))
        units.append(CompressedDataUnit(topology_elem_id=name + STEP_SUFFIX, tensor_dimensions=[1],
                                        payload=np.array([step], "<f4").tobytes()))
    return units


def decode(units: list[NnrUnitBase]) -> dict[str, np.ndarray]:
    """{name: float32 array} from the NDUs of a bitstream written by `encode` (either mode).

    A unit bmff could not type (another encoder's syntax, or a unit type this reader has no use for) is refused by
    number and reason: skipping it would only surface later as tensors missing from the model.
    """
    unreadable = [(i, u) for i, u in enumerate(units, 1) if isinstance(u, NnrUnit)]
    if unreadable:
        listed = "; ".join(f"unit {i} ({u.type_name}, {len(u.to_bytes())} bytes: "
                           f"{u.untyped_reason or 'a unit type this reader does not use'})" for i, u in unreadable[:5])
        more = f"; … {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
        raise UserError(f"{len(unreadable)} NNR unit{'s' if len(unreadable) > 1 else ''} could not be read: "
                        f"{listed}{more}")
    raw: dict[str, np.ndarray] = {}
    ints: dict[str, np.ndarray] = {}
    for u in units:
        if not isinstance(u, CompressedDataUnit) or u.topology_elem_id is None or u.tensor_dimensions is None:
            continue
        name, dims = u.topology_elem_id, tuple(u.tensor_dimensions)
        count = int(np.prod(dims, dtype=np.int64))
        if u.nnr_compressed_data_unit_payload_type == NNR_PT_RAW_FLOAT:
            if len(u.payload) != 4 * count:
                raise UserError(f"tensor '{name}' is truncated: {len(u.payload)} bytes for shape {list(dims)}")
            raw[name] = np.frombuffer(u.payload, "<f4").reshape(dims).astype(np.float32)
        elif u.nnr_compressed_data_unit_payload_type == NNR_PT_INT:
            bits = u.nnr_decompressed_data_format
            if bits not in _INT_DTYPES:
                raise UserError(f"tensor '{name}': integer format {bits} is not one this reader wrote")
            dtype = np.dtype(_INT_DTYPES[bits]).newbyteorder("<")
            if len(u.payload) != dtype.itemsize * count:
                raise UserError(f"tensor '{name}' is truncated: {len(u.payload)} bytes for shape {list(dims)}")
            ints[name] = np.frombuffer(u.payload, dtype).reshape(dims)
        else:
            raise UserError(f"tensor '{name}': NNR payload type {u.nnr_compressed_data_unit_payload_type} "
                            "(entropy-coded) is not supported; export with lossless or quantized mode")
    out = {n: v for n, v in raw.items() if not n.endswith(STEP_SUFFIX)}
    for name, q in ints.items():
        step = raw.get(name + STEP_SUFFIX)
        if step is None or step.size != 1:
            raise UserError(f"quantized tensor '{name}' has no step size")
        out[name] = (q.astype(np.float32) * step.reshape(())).astype(np.float32)
    return out


def decode_bytes(data: bytes) -> dict[str, np.ndarray]:
    try:
        return decode(parse_units(data))
    except BmffError as e:
        raise UserError(f"corrupt NNR bitstream: {e}") from None
