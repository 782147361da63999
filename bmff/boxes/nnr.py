"""NNR item properties (ISO/IEC 14496-15 4.19.4, 4.19.5): 'nnrC' configuration and 'hdlp' handler property.

'nnrC' is an ItemFullProperty (version 0, flags 0) holding an NNRDecoderConfigurationRecord: arrays of NNR
units (ISO/IEC 15938-17), one array per unit type, each unit self-delimited by its nnr_unit_size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..box import Box, BmffError, Context, FullBox, Reader, Writer, register
from ..nnr_units import ModelParameterSetUnit, NnrUnitBase, ParseState, parse_unit


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
        """What these units tell a parser of the item data (e.g. the MPS's indexed-topology flag)."""
        state = ParseState()
        for u in self.units():
            if isinstance(u, ModelParameterSetUnit):
                state.mps_topology_indexed_reference_flag = u.mps_topology_indexed_reference_flag
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
class HandlerProperty(Box):
    """'hdlp': the handler type ('nnet') of an item whose MetaBox has another handler.

    The body layout (a bare u32 handler_type, plain Box) is from the registry notes and marked unverified.
    """

    TYPE = "hdlp"
    handler_type: str = "nnet"

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "HandlerProperty":
        return cls(r.fourcc())

    def build_body(self, w: Writer) -> None:
        w.fourcc(self.handler_type)
