"""NAL units of AVC / HEVC / VVC as carried in ISOBMFF, SEI messages, and the NNPFC SEI payload.

Samples hold NAL units behind a (lengthSizeMinusOne+1)-byte length, not start codes. A NAL unit is a header
then an escaped RBSP (emulation prevention bytes inserted). An SEI RBSP is sei_message()s followed by
rbsp_trailing_bits(); each sei_message() codes payloadType and payloadSize as runs of 0xFF plus a last byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .bits import BitReader, BitWriter
from .box import BmffError

AVC, HEVC, VVC = "avc", "hevc", "vvc"
NNPFC_PAYLOAD_TYPE, NNPFA_PAYLOAD_TYPE = 210, 211

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


# --------------------------------------------------------------------------------------------- SEI


@dataclass
class SeiMessage:
    """One sei_message(): payloadType and the sei_payload() bytes (payloadSize = len(payload))."""

    payload_type: int
    payload: bytes = b""

    def to_bytes(self) -> bytes:
        return _ff_coded(self.payload_type) + _ff_coded(len(self.payload)) + bytes(self.payload)


def _ff_coded(v: int) -> bytes:
    if v < 0:
        raise BmffError(f"SEI payloadType/payloadSize {v} is negative")
    return b"\xff" * (v // 255) + bytes([v % 255])


def _read_ff_coded(data: bytes, pos: int, what: str) -> tuple[int, int]:
    v = 0
    while True:
        if pos >= len(data):
            raise BmffError(f"truncated SEI {what}")
        b = data[pos]
        pos += 1
        v += b
        if b != 0xFF:
            return v, pos


def parse_sei_message(data: bytes, pos: int = 0) -> tuple[SeiMessage, int]:
    """The sei_message() at data[pos:] (RBSP bytes: no emulation prevention) and the offset after it."""
    ptype, pos = _read_ff_coded(data, pos, "payloadType")
    size, pos = _read_ff_coded(data, pos, "payloadSize")
    if pos + size > len(data):
        raise BmffError(f"SEI payloadSize {size} runs past the data ({len(data) - pos} bytes left)")
    return SeiMessage(ptype, bytes(data[pos : pos + size])), pos + size


def parse_sei_rbsp(rbsp: bytes) -> list[SeiMessage]:
    """sei_rbsp(): messages while more_rbsp_data(), then rbsp_trailing_bits() (0x80 then any 0x00 padding)."""
    end = len(rbsp.rstrip(b"\x00")) if rbsp else 0
    if end == 0 or rbsp[end - 1] != 0x80:
        raise BmffError("SEI RBSP does not end with rbsp_trailing_bits (0x80)")
    end -= 1
    msgs, pos = [], 0
    while pos < end:
        msg, pos = parse_sei_message(rbsp[:end], pos)
        msgs.append(msg)
    return msgs


def sei_rbsp(messages: list[SeiMessage]) -> bytes:
    if not messages:
        raise BmffError("an SEI NAL unit needs at least one SEI message")
    return b"".join(m.to_bytes() for m in messages) + b"\x80"


def build_sei_nal(codec: str, messages: list[SeiMessage], suffix: bool = False, layer_id: int = 0,
                  temporal_id: int = 0) -> bytes:
    """A complete SEI NAL unit (header + escaped RBSP) carrying the messages."""
    nal_type = SEI_NAL_TYPES[codec][1 if suffix else 0]
    return build_nal_header(codec, NalHeader(nal_type, layer_id, temporal_id)) + escape_rbsp(sei_rbsp(messages))


def parse_sei_nal(codec: str, nal: bytes) -> list[SeiMessage]:
    h = parse_nal_header(codec, nal)
    if not is_sei(codec, h.nal_unit_type):
        raise BmffError(f"{codec.upper()} NAL unit type {h.nal_unit_type} is not an SEI NAL unit")
    return parse_sei_rbsp(unescape_rbsp(nal[NAL_HEADER_SIZE[codec]:]))


def sei_payload_types(codec: str, nals: list[bytes]) -> list[int]:
    """payloadType of every SEI message in the NAL units (non-SEI NAL units are skipped)."""
    out = []
    for nal in nals:
        if nal and is_sei(codec, parse_nal_header(codec, nal).nal_unit_type):
            out += [m.payload_type for m in parse_sei_nal(codec, nal)]
    return out


# --------------------------------------------------------------------------------------------- NNPFC


# nn_post_filter_characteristics() up to the properties, in coded order (ISO/IEC 23002-7); older drafts
# ordered nnpfc_id first: this table is the one place that says the order. Condition: a predicate on the
# values read so far, or None for always present.
NNPFC_SYNTAX: tuple[tuple[str, str, object], ...] = (
    ("nnpfc_purpose", "u16", None),
    ("nnpfc_id", "ue", None),
    ("nnpfc_base_flag", "u1", None),
    ("nnpfc_mode_idc", "ue", None),
    ("nnpfc_reserved_zero_bit_a", "align0", lambda v: v["nnpfc_mode_idc"] == 1),
    ("nnpfc_tag_uri", "st", lambda v: v["nnpfc_mode_idc"] == 1),
    ("nnpfc_uri", "st", lambda v: v["nnpfc_mode_idc"] == 1),
    ("nnpfc_property_present_flag", "u1", None),
)


@dataclass
class Nnpfc:
    """An NNPFC SEI payload (payloadType 210).

    When nnpfc_property_present_flag is 1 the property syntax is not modelled: every bit after the flag
    (properties, alignment, payload bytes) is kept in `property_tail` as (value, bit count). Otherwise, for
    nnpfc_mode_idc 0, `nnpfc_payload_byte` holds the NNR bitstream after the zero alignment bits.
    """

    nnpfc_purpose: int = 0
    nnpfc_id: int = 0
    nnpfc_base_flag: int = 1
    nnpfc_mode_idc: int = 0  # 0: NNR bitstream in nnpfc_payload_byte; 1: URI
    nnpfc_tag_uri: str = ""
    nnpfc_uri: str = ""
    nnpfc_property_present_flag: int = 0
    property_tail: tuple[int, int] | None = None
    nnpfc_payload_byte: bytes = b""

    def to_payload(self) -> bytes:
        w = BitWriter()
        values = vars(self)
        for name, coding, cond in NNPFC_SYNTAX:
            if cond is not None and not cond(values):
                continue
            v = values.get(name, 0)
            if coding == "u16":
                w.u(16, v)
            elif coding == "u1":
                w.flag(v)
            elif coding == "ue":
                w.ue(v)
            elif coding == "align0":
                w.align(0)
            else:
                w.st(v)
        if self.nnpfc_property_present_flag:
            if self.property_tail is None:
                raise BmffError("nnpfc_property_present_flag is 1 but no property bits are given")
            w.tail(*self.property_tail)
        elif self.nnpfc_mode_idc == 0:
            w.align(0)  # nnpfc_reserved_zero_bit_b
            w.write_bytes(self.nnpfc_payload_byte)
        if not w.byte_aligned():
            w.byte_alignment()  # sei_payload(): payload_bit_equal_to_one, then zeros
        return w.to_bytes()

    def to_message(self) -> SeiMessage:
        return SeiMessage(NNPFC_PAYLOAD_TYPE, self.to_payload())

    @classmethod
    def parse(cls, payload: bytes) -> "Nnpfc":
        r = BitReader(payload)
        values: dict = {}
        for name, coding, cond in NNPFC_SYNTAX:
            if cond is not None and not cond(values):
                continue
            if coding == "u16":
                values[name] = r.u(16)
            elif coding == "u1":
                values[name] = r.flag()
            elif coding == "ue":
                values[name] = r.ue()
            elif coding == "align0":
                if r.align_bits()[0]:
                    raise BmffError(f"NNPFC {name} is not zero")
            else:
                values[name] = r.st()
        out = cls(**values)
        if out.nnpfc_property_present_flag:
            out.property_tail = r.tail()
        elif out.nnpfc_mode_idc == 0:
            if r.align_bits()[0]:
                raise BmffError("NNPFC nnpfc_reserved_zero_bit_b is not zero")
            out.nnpfc_payload_byte = r.rest_bytes()
        else:
            value, n = r.tail()
            if n and value != 1 << (n - 1) or n > 8:
                raise BmffError("NNPFC payload does not end with SEI payload alignment bits")
        return out


def nnpfc_sei(nnpfc_id: int, nnr_bitstream: bytes = b"", *, nnpfc_purpose: int = 0, nnpfc_base_flag: int = 1
              ) -> bytes:
    """A complete sei_message() carrying an NNPFC with mode 0: the bytes an 'nfcs' entry stores."""
    return Nnpfc(nnpfc_purpose, nnpfc_id, nnpfc_base_flag, 0, nnpfc_payload_byte=nnr_bitstream).to_message().to_bytes()
