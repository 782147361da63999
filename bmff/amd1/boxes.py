"""The boxes and sample group entries of ISO/IEC 14496-15 Amd 1; importing this module registers them.

Sample group entries 'stmi', 'nfcs' (NNPFC SEI), 'nfas' (NNPFA): 'nfcs' sample groups are always signalled
with a version-1 'sbgp' whose grouping_type_parameter is `filter_update_flag u(1) | filter_id u(31)`: one
SampleToGroupBox per (flag, filter_id).

SeiInformationBox 'seii' (4.10): which SEI payload types a bitstream carries. A plain Box (not a FullBox), in a
'schi' under the 'aSEI' scheme (required + non-required types) or directly in a VisualSampleEntry
(non-required types only: numRequiredSEIs shall be 0 there).

NNR item properties (4.19.4, 4.19.5): 'nnrC' is an ItemFullProperty (version 0, flags 0) holding an
NNRDecoderConfigurationRecord: arrays of NNR units (ISO/IEC 15938-17), one array per unit type, each unit
self-delimited by its nnr_unit_size; 'hdlp' is the handler property.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..box import BmffError, Box, Context, FullBox, Reader, Source, Writer, register
from ..boxes.sample_groups import register_entry
from ..fields import FOURCC, FieldList
from ..nnr_units import ModelParameterSetUnit, NnrUnitBase, ParseState, StartUnit, parse_unit

# --------------------------------------------------------------------------------------------- sample group entries


@dataclass(frozen=True)
class NfcsGroupingParameter:
    """The typed grouping_type_parameter of an 'nfcs' SampleToGroupBox."""

    filter_update_flag: int
    filter_id: int

    @classmethod
    def from_int(cls, value: int) -> "NfcsGroupingParameter":
        return cls(value >> 31, value & 0x7FFFFFFF)

    def to_int(self) -> int:
        if self.filter_update_flag not in (0, 1) or not 0 <= self.filter_id < (1 << 31):
            raise BmffError(f"'nfcs' grouping parameter ({self.filter_update_flag}, {self.filter_id}) does not fit "
                            "u(1) + u(31)")
        return (self.filter_update_flag << 31) | self.filter_id


def _entry_reader(data: bytes) -> Reader:
    return Reader(Source(bytes(data)), 0, len(data), "sgpd entry")


@register_entry
@dataclass
class SampleToMetadataItemEntry:
    """'stmi': the metadata items (of the MetaBox with the given handler) that apply to the samples."""

    GROUPING_TYPE = "stmi"
    meta_box_handler_type: str = "nnet"
    item_id: list[int] = field(default_factory=list)

    @property
    def num_items(self) -> int:
        return len(self.item_id)

    @classmethod
    def parse(cls, data: bytes) -> "SampleToMetadataItemEntry":
        r = _entry_reader(data)
        entry = cls(**cls._parse_fields(r))
        entry._parse_rest(r)
        return entry

    @staticmethod
    def _parse_fields(r: Reader) -> dict:
        handler = r.fourcc()
        return {"meta_box_handler_type": handler, "item_id": r.array("I", r.u32())}

    def _parse_rest(self, r: Reader) -> None:
        if r.remaining():
            raise r.error(f"'{self.GROUPING_TYPE}' entry has {r.remaining()} bytes after its item list")

    def to_bytes(self) -> bytes:
        w = Writer()
        w.fourcc(self.meta_box_handler_type)
        w.u32(len(self.item_id))
        w.array("I", self.item_id)
        return bytes(w.buf)


@register_entry
@dataclass
class NnpfcSeiSampleGroupEntry(SampleToMetadataItemEntry):
    """'nfcs': stmi fields, then nnpfc_sei_data_byte[] = exactly one complete NNPFC sei_message().

    With num_items == 1 the message leaves out nnpfc_payload_byte: the NNR bitstream is the 'nnr1' item.
    """

    GROUPING_TYPE = "nfcs"
    nnpfc_sei_data_byte: bytes = b""

    def _parse_rest(self, r: Reader) -> None:
        self.nnpfc_sei_data_byte = r.rest()

    def to_bytes(self) -> bytes:
        return super().to_bytes() + bytes(self.nnpfc_sei_data_byte)


@register_entry
@dataclass
class NnpfaSampleGroupEntry:
    """'nfas': samples on which a post-filter is active. The amendment text available to this project gives
    no entry syntax, so the entry stays bytes."""

    GROUPING_TYPE = "nfas"
    data: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> "NnpfaSampleGroupEntry":
        return cls(bytes(data))

    def to_bytes(self) -> bytes:
        return bytes(self.data)


# --------------------------------------------------------------------------------------------- 'seii'


@register()
@dataclass
class SeiInformationBox(Box):
    TYPE = "seii"
    requiredSEI_ID: list[int] = field(default_factory=list)
    notrequiredSEI_ID: list[int] = field(default_factory=list)

    @property
    def numRequiredSEIs(self) -> int:
        return len(self.requiredSEI_ID)

    @property
    def numNotRequiredSEIs(self) -> int:
        return len(self.notrequiredSEI_ID)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SeiInformationBox":
        required = r.array("H", r.u16())
        not_required = r.array("H", r.u16())
        return cls(required, not_required)

    def build_body(self, w: Writer) -> None:
        for ids in (self.requiredSEI_ID, self.notrequiredSEI_ID):
            w.u16(len(ids))
            w.array("H", ids)


# --------------------------------------------------------------------------------------------- NNR item properties


@dataclass
class NnrUnitArray:
    nnr_unit_type: int
    nnr_units: list[NnrUnitBase] = field(default_factory=list)
    reserved: int = 0  # bit(2), 0 by syntax; kept so a file writes back as read


@register(None, "ipco")
@dataclass
class NNRConfigurationItemProperty(FullBox):
    """'nnrC': the NNR units (STR/MPS/LPS/TPL/QNT) that precede an 'nnr1' item's data in its bitstream."""

    TYPE = "nnrC"
    VERSIONS = (0,)
    arrays: list[NnrUnitArray] = field(default_factory=list)

    @classmethod
    def from_units(cls, units: list[NnrUnitBase]) -> "NNRConfigurationItemProperty":
        """Group units into arrays by type, in first-appearance order of each type."""
        by_type: dict[int, NnrUnitArray] = {}
        for u in units:
            by_type.setdefault(u.nnr_unit_type, NnrUnitArray(u.nnr_unit_type)).nnr_units.append(u)
        return cls(arrays=list(by_type.values()))

    def units(self) -> list[NnrUnitBase]:
        """The units in appearance order: the head of the item's NNR bitstream."""
        return [u for a in self.arrays for u in a.nnr_units]

    def parse_state(self) -> ParseState:
        """What these units tell a parser of the item data: the STR's profile, the MPS's flags."""
        state = ParseState()
        for u in self.units():
            if isinstance(u, StartUnit):
                state.general_profile_idc = u.general_profile_idc
            if isinstance(u, ModelParameterSetUnit):
                state.mps_topology_indexed_reference_flag = u.mps_topology_indexed_reference_flag
                state.mps_parent_signalling_enabled_flag = u.mps_parent_signalling_enabled_flag
        return state

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "NNRConfigurationItemProperty":
        num_of_arrays = r.u8()
        r.check_count(num_of_arrays, 2)
        heads = []
        for _ in range(num_of_arrays):
            b = r.u8()
            heads.append((b >> 6, b & 0x3F, r.u8()))
        data = r.rest()
        state, pos, arrays = ParseState(), 0, []
        for reserved, unit_type, count in heads:
            units = []
            for _ in range(count):
                try:
                    unit, pos = parse_unit(data, pos, state)
                except BmffError as e:
                    raise r.error(f"nnrC: {e.message}") from None
                units.append(unit)
            arrays.append(NnrUnitArray(unit_type, units, reserved))
        r.pos -= len(data) - pos  # bytes after the last unit stay as the box's trailing bytes
        return cls(arrays=arrays)

    def build_body(self, w: Writer) -> None:
        if len(self.arrays) > 255:
            raise BmffError(f"nnrC holds {len(self.arrays)} arrays, at most 255 fit")
        w.u8(len(self.arrays))
        for a in self.arrays:
            if len(a.nnr_units) > 255:
                raise BmffError(f"nnrC array of type {a.nnr_unit_type} holds {len(a.nnr_units)} units, at most 255")
            w.u8((a.reserved << 6) | a.nnr_unit_type)
            w.u8(len(a.nnr_units))
        for a in self.arrays:
            for u in a.nnr_units:
                w.write(u.to_bytes())


@register(None, "ipco")
@dataclass
class HandlerProperty(FieldList, Box):
    """'hdlp': the handler type ('nnet') of an item whose MetaBox has another handler.

    The body layout (a bare u32 handler_type, plain Box) is from the registry notes and marked unverified.
    """

    TYPE = "hdlp"
    handler_type: str = "nnet"
    FIELDS = (("handler_type", FOURCC),)
