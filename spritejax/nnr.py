"""Parameter pytrees as ISO/IEC 15938-17 (NNR) bitstreams: one compressed data unit per tensor.

Lossless mode stores every tensor as NNR_PT_RAW_FLOAT (prod(dims) little-endian float32). Quantised mode
(`qp`) codes each tensor as the standard does: NNR_PT_FLOAT with the MPS carrying the quantisation method
(uniform, NNR_QSU), `mps_qp_density` and `mps_quantization_parameter`, each NDU's payload the DeepCABAC-coded
qp offset and integer levels (15938-17 clause 9), `dq_flag` saying whether the levels are dependent
(trellis-coded) quantisation indices. Any conformant NNR decoder reads both modes.

The entropy coder and quantiser are NNCodec's compiled DeepCABAC (`nncodec.extensions.deepCABAC`, the
reference implementation), an optional install: lossless files need nothing but numpy. Dequantisation is done
here (level · step in float32, the step from qp and qp_density as the standard defines it), and is bit-exact
with NNCodec's decoder (tests/spritejax/test_nnr.py). Reading accepts profile 0 and 1 bitstreams of other
encoders with NNR_PT_INT, NNR_PT_FLOAT and single-tensor NNR_PT_BLOCK payloads; other tools (codebooks,
decomposition, entry points, blocks of several tensors, parent-node updates, indexed topology) are refused by
name.
"""

from __future__ import annotations

import math
import os

import numpy as np

from bmff.box import BmffError
from bmff.nnr_units import (
    NNR_PT_BLOCK,
    NNR_PT_FLOAT,
    NNR_PT_INT,
    NNR_PT_RAW_FLOAT,
    NNR_QSU,
    CompressedDataUnit,
    ModelParameterSetUnit,
    NnrUnit,
    NnrUnitBase,
    StartUnit,
    parse_units,
)

from .errors import UserError

QP_DENSITY = 2  # 2^2 quantisation steps per octave, NNCodec's default
QP_RANGE = (-4096, 4095)  # mps_quantization_parameter is i(13)
TENSOR_FLOAT32 = 1  # nnr_decompressed_data_format of a dequantised tensor
CABAC_UNARY_LENGTH_MINUS1 = 10  # NNCodec's default
LAMBDA_SCALE = 1.0  # rate-distortion weight of NNCodec's quantiser: 3-8 % smaller than 0 at equal PSNR loss
# DeepCABAC codes an all-zero tensor in ~1/100 bit per element (measured: 783 elements per byte for 2^22 zeros);
# a shape of more than MAX_ELEMENTS_PER_BYTE elements per payload byte is more than the payload can describe, and
# refusing it bounds what a crafted file makes us allocate.
MAX_ELEMENTS_PER_BYTE = 4096
MAX_ELEMENTS = (1 << 31) - 1  # DeepCABAC counts weights in uint32
NNCODEC_INSTALL = ("pip install pybind11 numpy setuptools wheel && "
                   "pip install --no-deps --no-build-isolation nncodec==2.1.3")


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dict of arrays -> {'a/b/c': array}, the topology element ids of the NNR units."""
    out: dict[str, np.ndarray] = {}
    for key in sorted(tree):
        if "/" in str(key):
            raise ValueError(f"parameter name {key!r} may not contain '/'")
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


def deepcabac():
    """NNCodec's compiled DeepCABAC module, or a one-line UserError saying how to install it."""
    try:
        from nncodec.extensions import deepCABAC
    except ImportError:
        raise UserError("DeepCABAC-coded NNR (export --qp, or a file with entropy-coded tensors) needs NNCodec "
                        f"2.1.3's DeepCABAC, without torch: {NNCODEC_INSTALL}") from None
    return deepCABAC


def step_size(qp: int, qp_density: int = QP_DENSITY) -> np.float32:
    """The standard's quantisation step: (2^d + (qp mod 2^d)) · 2^(⌊qp / 2^d⌋ − d), as float32."""
    k = 1 << qp_density
    exponent = min(max((qp >> qp_density) - qp_density, -2000), 2000)  # a crafted qp: 0 or inf, not OverflowError
    with np.errstate(over="ignore", under="ignore"):
        return np.float32(np.ldexp(np.float64(k + (qp & (k - 1))), exponent))


def check_qp(qp: int, what: str = "qp") -> None:
    """A qp (or its vectors' qp) whose step is no positive normal float32, or outside i(13), is refused."""
    def usable(q: int) -> bool:
        step = step_size(q) if QP_RANGE[0] <= q <= QP_RANGE[1] else np.float32(0)
        return bool(np.isfinite(step) and step >= np.finfo(np.float32).tiny)

    if not (usable(qp) and usable(qp - (2 << QP_DENSITY))):
        raise UserError(f"{what} {qp} is out of range: its step size (and its vectors', at qp-8) must be a normal "
                        f"float32, qp from -496 to 511 (--qp -18: steps of {float(step_size(-18)):.3g} × each "
                        "tensor's RMS)")


def tensor_qp(qp: int, x: np.ndarray) -> int:
    """The qp a tensor is coded at: `qp` relative to its RMS, step ≈ step_size(qp) · RMS (qp + 4·log2 RMS,
    rounded), so one qp suits logits of scale 1 and kernels of scale 0.05 alike (on the 64² demo model this is
    a 0.14 instead of a 0.17 size ratio at equal PSNR loss, docs/amd1.md); vectors (biases, scales; ≤ 1-D) at a
    quarter of that step, NNCodec's convention. Each tensor's qp is coded in its payload as the offset from
    the MPS's."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    qp_t = qp + (round((1 << QP_DENSITY) * math.log2(rms)) if rms > 0 else 0)
    qp_t = min(max(qp_t, -496 + 8), 511)  # a step a normal float32 holds (RMS from 1e-30 to 1e30 stays coded)
    return qp_t if x.ndim >= 2 else qp_t - (2 << QP_DENSITY)


def _coded_ndu(name: str, x: np.ndarray, qp: int, dq: bool) -> CompressedDataUnit:
    """One tensor quantised (uniform or, with dq, trellis-coded) and DeepCABAC-coded as an NNR_PT_FLOAT NDU."""
    dc = deepcabac()
    from nncodec.nnc_core.hdsp.hdsp_tool import HDSP_OPTS_OFF

    x = np.ascontiguousarray(x, np.float32)
    levels = np.zeros(x.shape, np.int32)
    quantiser = dc.Encoder()
    quantiser.initCtxModels(CABAC_UNARY_LENGTH_MINUS1, 0)
    used_qp = quantiser.quantLayer(x, levels, int(dq), QP_DENSITY, tensor_qp(qp, x), LAMBDA_SCALE,
                                   CABAC_UNARY_LENGTH_MINUS1, 0, 0)
    coder = dc.Encoder()
    coder.iae_v(6 + QP_DENSITY, used_qp - qp)
    coder.initCtxModels(CABAC_UNARY_LENGTH_MINUS1 + 1, 1)
    coder.encodeLayer(levels, int(dq), 0, 0, 0, 0, np.zeros(x.shape[0], np.int32), *HDSP_OPTS_OFF(), 0, 0)
    return CompressedDataUnit(nnr_compressed_data_unit_payload_type=NNR_PT_FLOAT, topology_elem_id=name,
                              dq_flag=int(dq), nnr_decompressed_data_format=TENSOR_FLOAT32,
                              tensor_dimensions=list(x.shape), cabac_unary_length_minus1=CABAC_UNARY_LENGTH_MINUS1,
                              payload=coder.finish().tobytes())


def encode(tensors: dict[str, np.ndarray], qp: int | None = None, dq: bool = True) -> list[NnrUnitBase]:
    """Start unit, model parameter set, then one NDU per tensor: raw float32, or quantised at `qp`.

    Scalars and empty tensors stay raw in either mode (DeepCABAC codes tensors of at least one dimension).
    """
    if qp is not None:
        check_qp(qp)
    mps = (ModelParameterSetUnit() if qp is None else
           ModelParameterSetUnit(mps_quantization_method_flags=NNR_QSU, mps_qp_density=QP_DENSITY,
                                 mps_quantization_parameter=qp))
    units: list[NnrUnitBase] = [StartUnit(general_profile_idc=0), mps]
    for name, value in tensors.items():
        x = np.asarray(value, dtype=np.float32)
        if qp is None or x.ndim == 0 or x.size == 0:
            units.append(CompressedDataUnit(topology_elem_id=name, tensor_dimensions=list(x.shape),
                                            payload=x.astype("<f4").tobytes()))
        else:
            units.append(_coded_ndu(name, x, qp, dq))
    return units


# --------------------------------------------------------------------------------------------- decoding


def _refuse_tools(i: int, u: CompressedDataUnit, name: str) -> None:
    """15938-17 tools a unit uses that this reader does not implement: one line naming the tool."""
    tool = None
    if u.topology_elem_id is None:
        tool = "indexed topology references (mps_topology_indexed_reference_flag)"
    elif u.nnr_compressed_data_unit_payload_type == NNR_PT_BLOCK and u.compressed_parameter_types:
        tool = f"NNR_PT_BLOCK of several tensors (compressed_parameter_types {u.compressed_parameter_types})"
    elif u.nnr_compressed_data_unit_payload_type not in (NNR_PT_INT, NNR_PT_FLOAT, NNR_PT_RAW_FLOAT, NNR_PT_BLOCK):
        tool = f"reserved payload type {u.nnr_compressed_data_unit_payload_type}"
    elif u.tensor_dimensions is None:
        tool = "tensor dimensions sent out of band"
    elif u.nnr_compressed_data_unit_payload_type != NNR_PT_RAW_FLOAT and u.cabac_unary_length_minus1 is None:
        tool = "cabac_unary_length_minus1 sent out of band"
    if tool:
        raise UserError(f"unit {i} (tensor '{name}'): {tool} is not supported")


class _CapturedStdout:
    """File descriptor 1 redirected to a temporary file for the duration; `.text` is what was written."""

    def __enter__(self):
        import sys
        import tempfile

        sys.stdout.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(1)
        os.dup2(self._file.fileno(), 1)
        self.text = ""
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 1)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode(errors="replace").strip()
        self._file.close()
        return False


def _coded_tensor(i: int, u: CompressedDataUnit, name: str, dims: tuple, count: int, profile: int,
                  mps: ModelParameterSetUnit | None) -> np.ndarray:
    """Decode one DeepCABAC payload and dequantise it (INT: the integers as they are)."""
    where = f"unit {i} (tensor '{name}')"
    if count > min(MAX_ELEMENTS, MAX_ELEMENTS_PER_BYTE * len(u.payload)):
        raise UserError(f"{where}: shape {list(dims)} ({count} elements) is more than its {len(u.payload)}-byte "
                        "payload can describe")
    if count == 0:
        return np.zeros(dims, np.float32)
    dc = deepcabac()
    from nncodec.nnc_core.hdsp.hdsp_tool import HDSP_OPTS_OFF

    is_float = u.nnr_compressed_data_unit_payload_type != NNR_PT_INT
    if is_float and (mps is None or not mps.has_qp):
        raise UserError(f"{where}: quantised payload but the MPS gives no quantisation parameters")
    # The C++ decoder reads without bounds: give it a tail to run into (a truncated or random payload overran by
    # at most 0.33 bytes per element in tests), and check afterwards how far it read.
    stream = np.frombuffer(u.payload + bytes(4 * count + 64), np.uint8)
    decoder = dc.Decoder()
    decoder.setStream(stream)
    levels = np.zeros(dims, np.int32)
    try:
        with _CapturedStdout() as said:  # its end-of-stream check prints to stdout instead of failing
            if is_float:
                qp = decoder.iae_v(6 + mps.mps_qp_density) + mps.mps_quantization_parameter
            decoder.initCtxModels(u.cabac_unary_length_minus1 + 1)
            decoder.decodeLayer(levels, u.dq_flag if is_float else 0, 0, profile, 0, *HDSP_OPTS_OFF(), 0, 0)
            used = decoder.finish()
    except RuntimeError:
        raise UserError(f"{where}: corrupt DeepCABAC payload ({len(u.payload)} bytes)") from None
    if used > len(u.payload):
        raise UserError(f"{where} is truncated: decoding needs {used} payload bytes, the unit holds "
                        f"{len(u.payload)}")
    if said.text:
        raise UserError(f"{where}: corrupt DeepCABAC payload (no stop pattern after {used} bytes)")
    if not is_float:
        return levels.astype(np.float32)
    step = step_size(qp, mps.mps_qp_density)
    if not (np.isfinite(step) and step > 0):
        raise UserError(f"{where}: qp {qp} (qp_density {mps.mps_qp_density}) gives no usable step size")
    return step * levels.astype(np.float32)


def decode(units: list[NnrUnitBase]) -> dict[str, np.ndarray]:
    """{name: float32 array} from the NDUs of an NNR bitstream (ours, or another encoder's profile 0/1).

    A unit bmff could not type (another encoder's syntax, or a unit type this reader has no use for) is refused by
    number and reason: skipping it would only surface later as tensors missing from the model. A topology unit
    is not needed: tensors are matched to the model by their topology element names.
    """
    unreadable = [(i, u) for i, u in enumerate(units, 1) if isinstance(u, NnrUnit)]
    if unreadable:
        listed = "; ".join(f"unit {i} ({u.type_name}, {len(u.to_bytes())} bytes: "
                           f"{u.untyped_reason or 'a unit type this reader does not use'})" for i, u in unreadable[:5])
        more = f"; … {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
        raise UserError(f"{len(unreadable)} NNR unit{'s' if len(unreadable) > 1 else ''} could not be read: "
                        f"{listed}{more}")
    out: dict[str, np.ndarray] = {}
    profile, mps = 0, None
    for i, u in enumerate(units, 1):
        if isinstance(u, StartUnit):
            profile = u.general_profile_idc
        elif isinstance(u, ModelParameterSetUnit):
            mps = u
        if not isinstance(u, CompressedDataUnit):
            continue
        name = u.topology_elem_id if u.topology_elem_id is not None else f"#{u.topology_elem_id_index}"
        _refuse_tools(i, u, name)
        dims = tuple(u.tensor_dimensions)
        count = math.prod(dims)
        if u.nnr_compressed_data_unit_payload_type == NNR_PT_RAW_FLOAT:
            if len(u.payload) != 4 * count:
                raise UserError(f"unit {i} (tensor '{name}') is truncated: {len(u.payload)} bytes for shape "
                                f"{list(dims)} (float32 needs {4 * count})")
            out[name] = np.frombuffer(u.payload, "<f4").reshape(dims).astype(np.float32)
        else:
            out[name] = _coded_tensor(i, u, name, dims, count, profile, mps)
    return out


def decode_bytes(data: bytes) -> dict[str, np.ndarray]:
    try:
        return decode(parse_units(data))
    except BmffError as e:
        raise UserError(f"corrupt NNR bitstream: {e}") from None

