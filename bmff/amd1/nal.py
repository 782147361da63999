"""NAL units of AVC / HEVC / VVC as carried in ISOBMFF: headers, emulation prevention, samples, Annex B.

Samples hold NAL units behind a (lengthSizeMinusOne+1)-byte length, not start codes. A NAL unit is a header
then an escaped RBSP (emulation prevention bytes inserted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..box import BmffError

AVC, HEVC, VVC = "avc", "hevc", "vvc"

# Sample entry 4CC -> codec (ISO/IEC 14496-15 clauses 5, 8, 9, 11).
SAMPLE_ENTRY_CODECS = {**{t: AVC for t in ("avc1", "avc2", "avc3", "avc4")},
                       **{t: HEVC for t in ("hvc1", "hev1", "hvc2", "hev2", "hvc3", "hev3", "lhv1", "lhe1")},
                       **{t: VVC for t in ("vvc1", "vvi1")}}

# (prefix, suffix) SEI nal_unit_type; AVC has a single SEI type.
SEI_NAL_TYPES = {AVC: (6, 6), HEVC: (39, 40), VVC: (23, 24)}
NAL_HEADER_SIZE = {AVC: 1, HEVC: 2, VVC: 2}


def codec_of(sample_entry_type: str) -> str | None:
    return SAMPLE_ENTRY_CODECS.get(sample_entry_type)


# --------------------------------------------------------------------------------------------- headers


@dataclass(frozen=True)
class NalHeader:
    nal_unit_type: int
    layer_id: int = 0  # nuh_layer_id (HEVC, VVC)
    temporal_id: int = 0  # TemporalId = nuh_temporal_id_plus1 - 1 (HEVC, VVC)
    nal_ref_idc: int = 0  # AVC


def parse_nal_header(codec: str, nal: bytes) -> NalHeader:
    if len(nal) < NAL_HEADER_SIZE[codec]:
        raise BmffError(f"{codec.upper()} NAL unit of {len(nal)} bytes is shorter than its header")
    b0 = nal[0]
    if codec == AVC:
        return NalHeader(b0 & 0x1F, nal_ref_idc=(b0 >> 5) & 3)
    b1 = nal[1]
    if codec == HEVC:
        return NalHeader((b0 >> 1) & 0x3F, ((b0 & 1) << 5) | (b1 >> 3), (b1 & 7) - 1)
    return NalHeader(b1 >> 3, b0 & 0x3F, (b1 & 7) - 1)


def build_nal_header(codec: str, h: NalHeader) -> bytes:
    if codec == AVC:
        return bytes([(h.nal_ref_idc << 5) | h.nal_unit_type])
    tid1 = h.temporal_id + 1
    if codec == HEVC:
        return bytes([(h.nal_unit_type << 1) | (h.layer_id >> 5), ((h.layer_id & 0x1F) << 3) | tid1])
    return bytes([h.layer_id & 0x3F, (h.nal_unit_type << 3) | tid1])


def is_vcl(codec: str, nal_unit_type: int) -> bool:
    """Coded slice NAL units: AVC 1..5 (and 20/21 of the SVC/MVC extensions), HEVC 0..31, VVC 0..11."""
    if codec == AVC:
        return 1 <= nal_unit_type <= 5 or nal_unit_type in (20, 21)
    return nal_unit_type < (32 if codec == HEVC else 12)


def is_sei(codec: str, nal_unit_type: int) -> bool:
    return nal_unit_type in SEI_NAL_TYPES[codec]


# --------------------------------------------------------------------------------------------- escaping

_NEEDS_EPB = re.compile(b"\x00\x00(?=[\x00-\x03])")
_EPB = re.compile(b"\x00\x00\x03")


def escape_rbsp(rbsp: bytes) -> bytes:
    """Insert emulation_prevention_three_byte after every 0x0000 followed by a byte <= 3 (or by the end)."""
    out = _NEEDS_EPB.sub(b"\x00\x00\x03", bytes(rbsp))
    return out + b"\x03" if out.endswith(b"\x00\x00") else out


def unescape_rbsp(ebsp: bytes) -> bytes:
    """Remove every emulation_prevention_three_byte (the 0x03 of a 0x000003 sequence)."""
    return _EPB.sub(b"\x00\x00", bytes(ebsp))


# --------------------------------------------------------------------------------------------- samples


def split_sample(data: bytes, length_size: int) -> list[bytes]:
    """The NAL units of one length-prefixed sample."""
    if length_size not in (1, 2, 4):
        raise BmffError(f"NAL unit length size {length_size} is not 1, 2 or 4")
    nals, pos = [], 0
    while pos < len(data):
        if pos + length_size > len(data):
            raise BmffError(f"truncated NAL unit length at sample byte {pos}")
        n = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if pos + n > len(data):
            raise BmffError(f"NAL unit of {n} bytes at sample byte {pos} runs past the sample end ({len(data)})")
        nals.append(bytes(data[pos : pos + n]))
        pos += n
    return nals


def join_sample(nals: list[bytes], length_size: int) -> bytes:
    limit = 1 << (8 * length_size)
    out = bytearray()
    for nal in nals:
        if len(nal) >= limit:
            raise BmffError(f"NAL unit of {len(nal)} bytes does not fit a {length_size}-byte length")
        out += len(nal).to_bytes(length_size, "big") + nal
    return bytes(out)


def annexb(nals: list[bytes]) -> bytes:
    """NAL units as an Annex B byte stream (4-byte start codes), the form ffmpeg and decoders read."""
    return b"".join(b"\x00\x00\x00\x01" + n for n in nals)
