"""Restricted and protected video (ISO/IEC 14496-12 8.12, 8.15) and the 'aSEI' scheme of ISO/IEC 14496-15 4.11.

A 'resv' sample entry is the original visual sample entry with its type replaced by 'resv' and a 'rinf' box
{ 'frma' (the original type), 'schm' (scheme_type 'aSEI'), 'schi' { 'seii' } } appended, so a player that does
not know the scheme does not play the track without the required post-processing. A protected ('encv') entry
keeps its original type in 'sinf/frma' the same way; protected and restricted, that type is 'resv'.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..box import Box, ContainerBox, Context, FullBox, Reader, Writer, register
from ..fields import FOURCC, FieldList


@register()
@dataclass
class OriginalFormatBox(FieldList, Box):
    TYPE = "frma"
    data_format: str = "avc1"
    FIELDS = (("data_format", FOURCC),)


@register()
@dataclass
class SchemeTypeBox(FullBox):
    """'schm': scheme_type, scheme_version, and a scheme_uri when flags & 1."""

    TYPE = "schm"
    VERSIONS = (0,)
    scheme_type: str = "aSEI"
    scheme_version: int = 0
    scheme_uri: str | None = None

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SchemeTypeBox":
        box = cls(r.fourcc(), r.u32())
        if ctx.flags & 1:
            box.scheme_uri = r.cstring()
        return box

    def build_body(self, w: Writer) -> None:
        w.fourcc(self.scheme_type)
        w.u32(self.scheme_version)
        if self.flags & 1:
            w.cstring(self.scheme_uri or "")


@register()
@dataclass
class SchemeInformationBox(ContainerBox):
    TYPE = "schi"


@register()
@dataclass
class RestrictedSchemeInfoBox(ContainerBox):
    TYPE = "rinf"


@register()
@dataclass
class ProtectionSchemeInfoBox(ContainerBox):
    TYPE = "sinf"
