"""File-level boxes (ISO/IEC 14496-12 §4.2, 4.3, 8.1, 8.2): the pattern every box module follows."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..box import Box, ContainerBox, Context, Payload, Reader, Writer, register


@register()
@dataclass
class FileTypeBox(Box):
    TYPE = "ftyp"
    major_brand: str = "isom"
    minor_version: int = 0
    compatible_brands: list[str] = field(default_factory=list)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "FileTypeBox":
        major, minor = r.fourcc(), r.u32()
        brands = [r.fourcc() for _ in range(r.remaining() // 4)]
        return cls(major, minor, brands)

    def build_body(self, w: Writer) -> None:
        w.fourcc(self.major_brand)
        w.u32(self.minor_version)
        for b in self.compatible_brands:
            w.fourcc(b)


@register()
@dataclass
class SegmentTypeBox(FileTypeBox):
    TYPE = "styp"


@register()
@dataclass
class MediaDataBox(Box):
    """'mdat': never read while parsing; its payload is a lazy byte range of the source."""

    TYPE = "mdat"
    LAZY = True
    data: bytes | Payload = b""

    def build_body(self, w: Writer) -> None:
        w.write(self.data.read() if isinstance(self.data, Payload) else self.data)


@register()
@dataclass
class FreeSpaceBox(MediaDataBox):
    TYPE = "free"


@register()
@dataclass
class SkipBox(MediaDataBox):
    TYPE = "skip"


@register()
@dataclass
class MovieBox(ContainerBox):
    TYPE = "moov"
