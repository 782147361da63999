"""ISO/IEC 15938-17 (NNR) high-level syntax: nnr_unit framing, unit headers, and raw-float tensor units.

An NNR bitstream is a sequence of nnr_unit()s, each `nnr_unit_size_flag u(1); nnr_unit_size u(15+16*flag)`
(the size counts the whole unit) then `nnr_unit_type u(6); independently_decodable_flag u(1);
partial_data_counter_present_flag u(1); [partial_data_counter u(8)]` and the type's own header and payload.

Typed here: the start unit (STR), the model parameter set (MPS), the topology unit (TPL, payload as bytes) and
the compressed data unit (NDU) header of one tensor, in profile 0 and profile 1 syntax (the STR's
general_profile_idc decides), each a dataclass of its own fields on `NnrUnitBase` (the common header). An
NDU's payload stays bytes: entropy decoding is the reader's business. Every other unit, and any typed unit using
a feature this module does not model (codebooks, decompositions, entry points, multiple topology elements,
parent-node signalling), stays a plain `NnrUnit` whose body is kept as bytes: parsing then building always
gives back the bytes that were read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from .bits import BitReader, BitWriter
from .box import BmffError

NNR_STR, NNR_MPS, NNR_LPS, NNR_TPL, NNR_QNT, NNR_NDU, NNR_AGG = range(7)
UNIT_TYPE_NAMES = {NNR_STR: "NNR_STR", NNR_MPS: "NNR_MPS", NNR_LPS: "NNR_LPS", NNR_TPL: "NNR_TPL",
                   NNR_QNT: "NNR_QNT", NNR_NDU: "NNR_NDU", NNR_AGG: "NNR_AGG"}
# The unit types an 'nnrC' item property may carry (ISO/IEC 14496-15 4.19.5); item data holds the rest.
CONFIG_UNIT_TYPES = frozenset({NNR_STR, NNR_MPS, NNR_LPS, NNR_TPL, NNR_QNT})

NNR_PT_INT, NNR_PT_FLOAT, NNR_PT_RAW_FLOAT, NNR_PT_BLOCK = range(4)
NNR_CPT_DC = 0x01  # compressed_parameter_types bit for a decomposed tensor (needs fields not modelled here)
NNR_QSU, NNR_QCB = 1, 2  # mps_quantization_method_flags bits that bring mps_qp_density / quantization_parameter

_SMALL_SIZE_LIMIT = 1 << 15  # nnr_unit_size_flag 0 codes sizes below this in 15 bits
_LARGE_SIZE_LIMIT = 1 << 31


@dataclass
class NnrUnitBase:
    """The common header of every NNR unit; subclasses add their type's header and payload.

    `nnr_unit_size_flag` remembers the size coding that was read (None: the shortest that fits), so a parsed
    unit writes back byte-exact.
    """

    nnr_unit_type: int = NNR_AGG
    independently_decodable_flag: int = 1
    partial_data_counter: int | None = None  # partial_data_counter_present_flag == (this is not None)
    nnr_unit_size_flag: int | None = field(default=None, kw_only=True, compare=False)

    TYPED: ClassVar[int | None] = None  # unit type a subclass models

    @property
    def type_name(self) -> str:
        return UNIT_TYPE_NAMES.get(self.nnr_unit_type, f"reserved({self.nnr_unit_type})")

    def build_body(self, w: BitWriter) -> None:
        """The type's header and payload, after the common header."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        if not 0 <= self.nnr_unit_type < 64:
            raise BmffError(f"nnr_unit_type {self.nnr_unit_type} does not fit in 6 bits")
        w = BitWriter()
        w.u(6, self.nnr_unit_type)
        w.flag(self.independently_decodable_flag)
        w.flag(self.partial_data_counter is not None)
        if self.partial_data_counter is not None:
            w.u(8, self.partial_data_counter)
        self.build_body(w)
        rest = w.to_bytes()
        flag = self.nnr_unit_size_flag
        if flag is None:
            flag = 0 if len(rest) + 2 < _SMALL_SIZE_LIMIT else 1
        size = len(rest) + 2 + 2 * flag
        if size >= (_SMALL_SIZE_LIMIT if flag == 0 else _LARGE_SIZE_LIMIT):
            raise BmffError(f"NNR unit of {size} bytes does not fit nnr_unit_size with flag {flag}")
        head = (flag << (15 + 16 * flag)) | size
        return head.to_bytes(2 + 2 * flag, "big") + rest

    @classmethod
    def parse_body(cls, r: BitReader, unit: "NnrUnit", state: "ParseState") -> "NnrUnitBase":
        """Subclasses read their header and payload from r (positioned after the common header)."""
        raise NotImplementedError


@dataclass
class NnrUnit(NnrUnitBase):
    """A unit whose type (or the syntax it uses) is not modelled here: its header and payload kept as bytes.

    `untyped_reason` says why the parser of its type gave up (None: the type has no parser here), so a reader
    can say which units it could not read instead of missing their contents later.
    """

    body: bytes = b""
    untyped_reason: str | None = field(default=None, kw_only=True, compare=False)

    def build_body(self, w: BitWriter) -> None:
        w.write_bytes(self.body)


@dataclass
class ParseState:
    """What earlier units of the same bitstream tell the parser of later ones."""

    mps_topology_indexed_reference_flag: int = 0
    general_profile_idc: int = 0  # from the STR: profile 1 adds MPS and NDU fields
    mps_parent_signalling_enabled_flag: int = 0


@dataclass
class StartUnit(NnrUnitBase):
    """NNR_STR: `general_profile_idc u(8)`, empty payload."""

    nnr_unit_type: int = NNR_STR
    general_profile_idc: int = 0
    TYPED: ClassVar[int | None] = NNR_STR

    def build_body(self, w: BitWriter) -> None:
        w.u(8, self.general_profile_idc)

    @classmethod
    def parse_body(cls, r: BitReader, unit: NnrUnit, state: ParseState) -> "StartUnit":
        start = cls(**_common(unit), general_profile_idc=r.u(8))
        state.general_profile_idc = start.general_profile_idc
        return start


@dataclass
class ModelParameterSetUnit(NnrUnitBase):
    """NNR_MPS: empty header; payload of flags, optional quantization parameters, then byte_alignment().

    The performance maps that the four map flags announce are kept as bytes in `performance_maps`
    (everything after the quantization fields, alignment included). `general_profile_idc` is the start unit's:
    profile 1 replaces the 7 reserved bits by its own flags and optional strings (`profile1_*` fields).
    """

    nnr_unit_type: int = NNR_MPS
    topology_carriage_flag: int = 0
    mps_sparsification_flag: int = 0
    mps_pruning_flag: int = 0
    mps_unification_flag: int = 0
    mps_decomposition_performance_map_flag: int = 0
    mps_quantization_method_flags: int = 0  # u(3)
    mps_topology_indexed_reference_flag: int = 0
    mps_qp_density: int = 0  # present when mps_quantization_method_flags & (QSU|QCB)
    mps_quantization_parameter: int = 0
    performance_maps: bytes = b""
    general_profile_idc: int = field(default=0, kw_only=True, compare=False)  # context, not a field
    # profile 1: base_model_id / performance_metric_type are None when their flags are 0
    validation_set_performance_present_flag: int = field(default=0, kw_only=True)
    metric_type_performance_map_valid_flag: int = field(default=0, kw_only=True)
    mps_parent_signalling_enabled_flag: int = field(default=0, kw_only=True)
    nnr_pre_flag: int = field(default=0, kw_only=True)
    base_model_id: str | None = field(default=None, kw_only=True)
    performance_metric_type: str | None = field(default=None, kw_only=True)
    TYPED: ClassVar[int | None] = NNR_MPS

    _FLAGS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("topology_carriage_flag", 1), ("mps_sparsification_flag", 1), ("mps_pruning_flag", 1),
        ("mps_unification_flag", 1), ("mps_decomposition_performance_map_flag", 1),
        ("mps_quantization_method_flags", 3), ("mps_topology_indexed_reference_flag", 1))

    @property
    def has_qp(self) -> bool:
        return bool(self.mps_quantization_method_flags & (NNR_QSU | NNR_QCB))

    @property
    def has_maps(self) -> bool:
        return bool(self.mps_sparsification_flag or self.mps_pruning_flag or self.mps_unification_flag
                    or self.mps_decomposition_performance_map_flag)

    @property
    def _has_metric_type(self) -> bool:
        return bool(self.validation_set_performance_present_flag or self.metric_type_performance_map_valid_flag)

    def build_body(self, w: BitWriter) -> None:
        for name, n in self._FLAGS:
            w.u(n, getattr(self, name))
        if self.general_profile_idc == 1:
            w.flag(self.base_model_id is not None)
            w.flag(self.validation_set_performance_present_flag)
            w.flag(self.metric_type_performance_map_valid_flag)
            w.flag(self.mps_parent_signalling_enabled_flag)
            w.flag(self.nnr_pre_flag if self.mps_parent_signalling_enabled_flag else 0)
            w.u(2, 0)  # nnr_reserved_zero_2bits
            if self.base_model_id is not None:
                w.st(self.base_model_id)
            if self._has_metric_type:
                w.st(self.performance_metric_type or "")
        else:
            w.u(7, 0)  # nnr_reserved_zero_7bits
        if self.has_qp:
            w.u(3, self.mps_qp_density)
            w.i(13, self.mps_quantization_parameter)
        if self.has_maps:
            w.write_bytes(self.performance_maps)
        else:
            w.byte_alignment()

    @classmethod
    def parse_body(cls, r: BitReader, unit: NnrUnit, state: ParseState) -> "ModelParameterSetUnit":
        values = {name: r.u(n) for name, n in cls._FLAGS}
        mps = cls(**_common(unit), **values, general_profile_idc=state.general_profile_idc)
        if state.general_profile_idc == 1:
            has_base_id = r.flag()
            mps.validation_set_performance_present_flag, mps.metric_type_performance_map_valid_flag = r.flag(), r.flag()
            mps.mps_parent_signalling_enabled_flag = r.flag()
            pre = r.flag()
            if pre and not mps.mps_parent_signalling_enabled_flag:
                raise BmffError("MPS nnr_reserved_zero_1bit is not zero")
            mps.nnr_pre_flag = pre
            if r.u(2):
                raise BmffError("MPS nnr_reserved_zero_2bits is not zero")
            if has_base_id:
                mps.base_model_id = r.st()
            if mps._has_metric_type:
                mps.performance_metric_type = r.st()
            if mps.validation_set_performance_present_flag and not mps.has_maps:
                raise _Untyped("validation_set_performance")
        elif r.u(7):
            raise BmffError("MPS nnr_reserved_zero_7bits is not zero")
        if mps.has_qp:
            mps.mps_qp_density, mps.mps_quantization_parameter = r.u(3), r.i(13)
        if mps.has_maps:
            mps.performance_maps = r.rest_bytes()
        state.mps_topology_indexed_reference_flag = mps.mps_topology_indexed_reference_flag
        state.mps_parent_signalling_enabled_flag = mps.mps_parent_signalling_enabled_flag
        return mps


@dataclass
class TopologyUnit(NnrUnitBase):
    """NNR_TPL: `topology_storage_format u(8), topology_compression_format u(8)`, then the topology as bytes."""

    nnr_unit_type: int = NNR_TPL
    topology_storage_format: int = 0
    topology_compression_format: int = 0
    payload: bytes = b""
    TYPED: ClassVar[int | None] = NNR_TPL

    def build_body(self, w: BitWriter) -> None:
        w.u(8, self.topology_storage_format)
        w.u(8, self.topology_compression_format)
        w.write_bytes(self.payload)

    @classmethod
    def parse_body(cls, r: BitReader, unit: NnrUnit, state: ParseState) -> "TopologyUnit":
        return cls(**_common(unit), topology_storage_format=r.u(8), topology_compression_format=r.u(8),
                   payload=r.rest_bytes())


@dataclass
class CompressedDataUnit(NnrUnitBase):
    """NNR_NDU: nnr_compressed_data_unit_header() for one topology element, then the payload as bytes.

    For NNR_PT_RAW_FLOAT the payload is prod(tensor_dimensions) little-endian float32 values; for the other
    types it is the DeepCABAC-coded data (15938-17 clause 9). Optional parts are None when absent.
    `topology_elem_id_index` replaces `topology_elem_id` when the bitstream's MPS sets
    mps_topology_indexed_reference_flag. `general_profile_idc` is the start unit's; in profile 1 `node_id`
    is (device_id, parameter_id, put_node_depth) when node_id_present_flag is 1, `parent_node_id_present_flag`
    is coded (0 only is modelled) when the MPS enables parent signalling, and `first_tensor_dimension_shift`
    precedes scan_order.
    """

    nnr_unit_type: int = NNR_NDU
    nnr_compressed_data_unit_payload_type: int = NNR_PT_RAW_FLOAT
    topology_elem_id: str | None = ""
    topology_elem_id_index: int | None = None
    codebook_present_flag: int = 0  # coded for FLOAT and BLOCK payloads (only 0 is modelled)
    dq_flag: int = 0  # coded for INT, FLOAT and BLOCK payloads
    nnr_decompressed_data_format: int | None = None
    input_parameters_present_flag: int = 1
    tensor_dimensions: list[int] | None = None  # tensor_dimensions_flag == (this is not None)
    cabac_unary_length_minus1: int | None = None
    compressed_parameter_types: int = 0
    scan_order: int = 0  # coded when count_tensor_dimensions > 1 (only 0 is modelled)
    payload: bytes = b""
    general_profile_idc: int = field(default=0, kw_only=True, compare=False)  # context, not a field
    node_id: tuple[int, int, int] | None = field(default=None, kw_only=True)
    parent_node_id_present_flag: int | None = field(default=None, kw_only=True)
    first_tensor_dimension_shift: int = field(default=0, kw_only=True)
    TYPED: ClassVar[int | None] = NNR_NDU

    @property
    def _has_codebook_flag(self) -> bool:
        return self.nnr_compressed_data_unit_payload_type in (NNR_PT_FLOAT, NNR_PT_BLOCK)

    @property
    def _has_dq_flag(self) -> bool:
        return self.nnr_compressed_data_unit_payload_type in (NNR_PT_INT, NNR_PT_FLOAT, NNR_PT_BLOCK)

    def build_body(self, w: BitWriter) -> None:
        w.u(5, self.nnr_compressed_data_unit_payload_type)
        w.flag(0)  # nnr_multiple_topology_elements_present_flag
        w.flag(self.nnr_decompressed_data_format is not None)
        w.flag(self.input_parameters_present_flag)
        if self.topology_elem_id_index is not None:
            w.ue(self.topology_elem_id_index, 7)
        else:
            w.st(self.topology_elem_id or "")
        if self.general_profile_idc == 1:
            w.flag(self.node_id is not None)
            if self.node_id is not None:
                for value, k in zip(self.node_id, (1, 5, 4)):
                    w.ue(value, k)
            if self.parent_node_id_present_flag is not None:
                w.flag(self.parent_node_id_present_flag)
        if self._has_codebook_flag:
            w.flag(self.codebook_present_flag)
        if self._has_dq_flag:
            w.flag(self.dq_flag)
        if self.nnr_decompressed_data_format is not None:
            w.u(7, self.nnr_decompressed_data_format)
        dims = self.tensor_dimensions if self.input_parameters_present_flag else None
        if self.input_parameters_present_flag:
            w.flag(dims is not None)
            w.flag(self.cabac_unary_length_minus1 is not None)
            w.u(4, self.compressed_parameter_types)
            if dims is not None:
                w.ue(len(dims), 1)  # count_tensor_dimensions
                for d in dims:
                    w.ue(d, 7)
            if self.cabac_unary_length_minus1 is not None:
                w.u(8, self.cabac_unary_length_minus1)
        if dims is not None and len(dims) > 1:
            if self.general_profile_idc == 1:
                w.ue(self.first_tensor_dimension_shift, 1)
            w.u(4, self.scan_order)
        w.byte_alignment()
        w.write_bytes(self.payload)

    @classmethod
    def parse_body(cls, r: BitReader, unit: NnrUnit, state: ParseState) -> "CompressedDataUnit":
        ndu = cls(**_common(unit), nnr_compressed_data_unit_payload_type=r.u(5),
                  general_profile_idc=state.general_profile_idc)
        if r.flag():
            raise _Untyped("multiple topology elements")
        has_format, ndu.input_parameters_present_flag = r.flag(), r.flag()
        if state.mps_topology_indexed_reference_flag:
            ndu.topology_elem_id, ndu.topology_elem_id_index = None, r.ue(7)
        else:
            ndu.topology_elem_id = r.st()
        if ndu.general_profile_idc == 1:
            if r.flag():
                ndu.node_id = (r.ue(1), r.ue(5), r.ue(4))
            if state.mps_parent_signalling_enabled_flag:
                ndu.parent_node_id_present_flag = r.flag()
                if ndu.parent_node_id_present_flag:
                    raise _Untyped("parent node (incremental update) signalling")
        if ndu._has_codebook_flag and r.flag():
            raise _Untyped("codebook")
        if ndu._has_dq_flag:
            ndu.dq_flag = r.flag()
        if has_format:
            ndu.nnr_decompressed_data_format = r.u(7)
        if ndu.input_parameters_present_flag:
            has_dims, has_unary = r.flag(), r.flag()
            ndu.compressed_parameter_types = r.u(4)
            if ndu.compressed_parameter_types & NNR_CPT_DC:
                raise _Untyped("decomposed tensor")
            if has_dims:
                count = r.ue(1)
                if count * 8 > r.bits_left():
                    raise BmffError(f"count_tensor_dimensions {count} exceeds the unit")
                ndu.tensor_dimensions = [r.ue(7) for _ in range(count)]
            if has_unary:
                ndu.cabac_unary_length_minus1 = r.u(8)
        if ndu.tensor_dimensions is not None and len(ndu.tensor_dimensions) > 1:
            if ndu.general_profile_idc == 1:
                ndu.first_tensor_dimension_shift = r.ue(1)
            ndu.scan_order = r.u(4)
            if ndu.scan_order:
                raise _Untyped("entry points")
        if r.u(1) != 1:
            raise BmffError("NDU header's byte_alignment() does not start with a 1 bit")
        r.align_bits()  # zeros by syntax: the round-trip check in parse_unit catches any other value
        ndu.payload = r.rest_bytes()
        return ndu


class _Untyped(Exception):
    """A typed parser met a feature it does not model: the unit is kept as a plain NnrUnit."""


_TYPED_CLASSES: dict[int, type[NnrUnitBase]] = {c.TYPED: c for c in (StartUnit, ModelParameterSetUnit,
                                                                  TopologyUnit, CompressedDataUnit)}


def _common(unit: NnrUnit) -> dict:
    return {"independently_decodable_flag": unit.independently_decodable_flag,
            "partial_data_counter": unit.partial_data_counter, "nnr_unit_size_flag": unit.nnr_unit_size_flag}


# --------------------------------------------------------------------------------------------- parsing


def parse_unit(data: bytes, offset: int = 0, state: ParseState | None = None) -> tuple[NnrUnitBase, int]:
    """The unit starting at data[offset:], and the offset just after it."""
    state = state if state is not None else ParseState()
    if len(data) - offset < 3:
        raise BmffError(f"truncated NNR unit: {len(data) - offset} bytes", offset)
    flag = data[offset] >> 7
    head_len = 2 + 2 * flag
    if len(data) - offset < head_len:
        raise BmffError("truncated nnr_unit_size", offset)
    size = int.from_bytes(data[offset : offset + head_len], "big") & ((1 << (15 + 16 * flag)) - 1)
    if size < head_len + 1:
        raise BmffError(f"nnr_unit_size {size} is smaller than the unit header", offset)
    if offset + size > len(data):
        raise BmffError(f"nnr_unit_size {size} runs past the end of the data ({len(data) - offset} left)", offset)
    raw = bytes(data[offset : offset + size])
    r = BitReader(raw, head_len)
    unit_type, indep, has_counter = r.u(6), r.flag(), r.flag()
    counter = r.u(8) if has_counter else None
    generic = NnrUnit(unit_type, indep, counter, nnr_unit_size_flag=flag)
    body_start = r.pos // 8
    generic.body = raw[body_start:]
    cls = _TYPED_CLASSES.get(unit_type)
    if cls is None:
        return generic, offset + size
    saved = ParseState(**vars(state))
    try:
        typed = cls.parse_body(r, generic, state)
        if typed.to_bytes() == raw:
            return typed, offset + size
        generic.untyped_reason = "its fields do not write back the bytes that were read"
    except _Untyped as e:
        generic.untyped_reason = f"{e} not modelled"
    except BmffError as e:
        generic.untyped_reason = e.message
    state.__dict__.update(vars(saved))
    return generic, offset + size


def parse_units(data: bytes, state: ParseState | None = None) -> list[NnrUnitBase]:
    """Every NNR unit in data (an NNR bitstream, the item data of an 'nnr1' item, ...)."""
    state = state if state is not None else ParseState()
    units, pos = [], 0
    while pos < len(data):
        unit, pos = parse_unit(data, pos, state)
        units.append(unit)
    return units


def units_to_bytes(units: list[NnrUnitBase]) -> bytes:
    return b"".join(u.to_bytes() for u in units)


# --------------------------------------------------------------------------------------------- building


def raw_float_ndu(name: str, dims: list[int], data: bytes, general_profile_idc: int = 0) -> CompressedDataUnit:
    """An NDU holding one float32 tensor uncompressed: data is prod(dims) little-endian float32 values."""
    if any(d < 0 for d in dims):
        raise BmffError(f"tensor dimensions {dims} must be non-negative")
    expected = 4 * math.prod(dims)
    if len(data) != expected:
        raise BmffError(f"tensor '{name}' of shape {list(dims)} needs {expected} bytes of float32, got {len(data)}")
    return CompressedDataUnit(topology_elem_id=name, tensor_dimensions=list(dims), payload=bytes(data),
                              general_profile_idc=general_profile_idc)


def build_raw_float_ndu(name: str, dims: list[int], data: bytes) -> bytes:
    return raw_float_ndu(name, dims, data).to_bytes()


def build_raw_float_bitstream(tensors: list[tuple[str, list[int], bytes]], general_profile_idc: int = 0) -> bytes:
    """A complete NNR bitstream: start unit, model parameter set, then one raw-float NDU per tensor."""
    units: list[NnrUnitBase] = [StartUnit(general_profile_idc=general_profile_idc),
                                ModelParameterSetUnit(general_profile_idc=general_profile_idc)]
    units += [raw_float_ndu(name, dims, data, general_profile_idc) for name, dims, data in tensors]
    return units_to_bytes(units)


def raw_float_tensors(units: list[NnrUnitBase]) -> list[tuple[str, list[int], bytes]]:
    """(name, dims, float32 LE bytes) of every raw-float NDU with a name and dimensions, in order."""
    out = []
    for u in units:
        if (isinstance(u, CompressedDataUnit) and u.nnr_compressed_data_unit_payload_type == NNR_PT_RAW_FLOAT
                and u.topology_elem_id is not None and u.tensor_dimensions is not None):
            expected = 4 * math.prod(u.tensor_dimensions)
            if len(u.payload) != expected:
                raise BmffError(f"raw-float NDU '{u.topology_elem_id}' holds {len(u.payload)} bytes, "
                                f"its dimensions {u.tensor_dimensions} need {expected}")
            out.append((u.topology_elem_id, list(u.tensor_dimensions), u.payload))
    return out


def split_config_units(units: list[NnrUnitBase]) -> tuple[list[NnrUnitBase], list[NnrUnitBase]]:
    """(units an 'nnrC' property may carry, the rest for the item data), each in bitstream order."""
    return ([u for u in units if u.nnr_unit_type in CONFIG_UNIT_TYPES],
            [u for u in units if u.nnr_unit_type not in CONFIG_UNIT_TYPES])
