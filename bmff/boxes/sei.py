"""SeiInformationBox 'seii' (ISO/IEC 14496-15 4.10): which SEI payload types a bitstream carries.

A plain Box (not a FullBox), in a 'schi' under the 'aSEI' scheme (required + non-required types) or directly
in a VisualSampleEntry (non-required types only: numRequiredSEIs shall be 0 there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..box import Box, Context, Reader, Writer, register


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
