"""Sample groups (ISO/IEC 14496-12 §8.9): 'sbgp' maps runs of samples to entries of the 'sgpd' of the same
grouping_type.

sgpd entries are typed through a registry keyed by grouping type: `@register_entry` on a class with
GROUPING_TYPE, `parse(data: bytes)` and `to_bytes()`. Entries of other grouping types, and entries whose
parser rejects them, stay UnknownSampleGroupEntry bytes, so a file always writes back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..box import BmffError, Context, FullBox, Reader, Writer, register
from .tables import read_columns, write_columns

_ENTRIES: dict[str, type] = {}


def register_entry(cls: type) -> type:
    """Class decorator: parse sgpd entries of cls.GROUPING_TYPE with cls.parse(data) (users extend it too)."""
    _ENTRIES[cls.GROUPING_TYPE] = cls
    return cls


def entry_class(grouping_type: str) -> type:
    return _ENTRIES.get(grouping_type, UnknownSampleGroupEntry)


@dataclass
class UnknownSampleGroupEntry:
    """An entry kept as bytes; parse_error says why a registered parser refused it (None if none exists)."""

    data: bytes = b""
    parse_error: str | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, data: bytes) -> "UnknownSampleGroupEntry":
        return cls(bytes(data))

    def to_bytes(self) -> bytes:
        return bytes(self.data)


@register_entry
@dataclass
class RollRecoveryEntry:
    """'roll': how many samples before (negative) or after decoding starts are needed for a correct output."""

    GROUPING_TYPE = "roll"
    SIZE = 2  # lets a version-0 'sgpd' (no lengths) be split into entries
    roll_distance: int = 0

    @classmethod
    def parse(cls, data: bytes) -> "RollRecoveryEntry":
        if len(data) != cls.SIZE:
            raise BmffError(f"'{cls.GROUPING_TYPE}' entry is {len(data)} bytes, not {cls.SIZE}")
        return cls(int.from_bytes(data, "big", signed=True))

    def to_bytes(self) -> bytes:
        return self.roll_distance.to_bytes(2, "big", signed=True)


@register_entry
@dataclass
class AudioPreRollEntry(RollRecoveryEntry):
    GROUPING_TYPE = "prol"


def _parse_entry(cls: type, data: bytes) -> Any:
    try:
        return cls.parse(data)
    except BmffError as e:
        return UnknownSampleGroupEntry(data, parse_error=e.message)


@register()
@dataclass
class SampleToGroupBox(FullBox):
    """'sbgp': runs of sample_count samples mapped to group_description_index (1-based into the 'sgpd';
    0 = no group of this type). grouping_type_parameter exists in version 1 only."""

    TYPE = "sbgp"
    VERSIONS = (0, 1)
    grouping_type: str = "roll"
    grouping_type_parameter: int = 0
    sample_count: list[int] = field(default_factory=list)
    group_description_index: list[int] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        return len(self.sample_count)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SampleToGroupBox":
        grouping_type = r.fourcc()
        parameter = r.u32() if ctx.version == 1 else 0
        return cls(grouping_type, parameter, *read_columns(r, "II", r.u32()))

    def build_body(self, w: Writer) -> None:
        w.fourcc(self.grouping_type)
        if self.version == 1:
            w.u32(self.grouping_type_parameter)
        elif self.grouping_type_parameter:
            raise BmffError("sbgp grouping_type_parameter needs version 1")
        w.u32(self.entry_count)
        write_columns(w, "II", [self.sample_count, self.group_description_index], self.TYPE)

    def indices(self, sample_count: int) -> list[int]:
        """group_description_index of each of a track's samples (0 past the runs)."""
        out: list[int] = []
        for n, index in zip(self.sample_count, self.group_description_index):
            if len(out) + n > sample_count:
                raise BmffError(f"sbgp '{self.grouping_type}' maps more than the track's {sample_count} samples")
            out.extend([index] * n)
        return out + [0] * (sample_count - len(out))


@register()
@dataclass
class SampleGroupDescriptionBox(FullBox):
    """'sgpd'. Version 1 (written by default) gives default_length, or a description_length per entry when
    it is 0; version 2 adds default_group_description_index. Version 0 has no lengths: entries of a type
    with a fixed SIZE are split by it, others evenly."""

    TYPE = "sgpd"
    VERSIONS = (0, 1, 2)
    grouping_type: str = "roll"
    default_length: int = 0
    default_group_description_index: int = 0
    entries: list[Any] = field(default_factory=list)
    version: int = field(default=1, kw_only=True)

    @property
    def entry_count(self) -> int:
        return len(self.entries)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SampleGroupDescriptionBox":
        v = ctx.version
        grouping_type = r.fourcc()
        default_length = r.u32() if v >= 1 else 0
        default_index = r.u32() if v >= 2 else 0
        count, kind = r.u32(), entry_class(grouping_type)
        if v >= 1 and default_length == 0:
            r.check_count(count, 4)
            datas = [r.read(r.u32()) for _ in range(count)]
        else:
            size = default_length or getattr(kind, "SIZE", None) or (r.remaining() // count if count else 0)
            r.check_count(count, size)
            datas = [r.read(size) for _ in range(count)]
        return cls(grouping_type, default_length, default_index, [_parse_entry(kind, d) for d in datas])

    def build_body(self, w: Writer) -> None:
        v = self.version
        w.fourcc(self.grouping_type)
        if v >= 1:
            w.u32(self.default_length)
        if v >= 2:
            w.u32(self.default_group_description_index)
        elif self.default_group_description_index:
            raise BmffError("sgpd default_group_description_index needs version 2")
        w.u32(self.entry_count)
        for entry in self.entries:
            data = entry.to_bytes()
            if v >= 1 and self.default_length == 0:
                w.u32(len(data))
            elif v >= 1 and len(data) != self.default_length:
                raise BmffError(f"sgpd entry of {len(data)} bytes with default_length {self.default_length}")
            w.write(data)

