"""Sample group entries of ISO/IEC 14496-15 Amd 1: 'stmi', 'nfcs' (NNPFC SEI), 'nfas' (NNPFA).

'nfcs' sample groups are always signalled with a version-1 'sbgp' whose grouping_type_parameter is
`filter_update_flag u(1) | filter_id u(31)`: one SampleToGroupBox per (flag, filter_id).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..box import BmffError, Reader, Source, Writer
from .sample_groups import register_entry


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
