"""SEI messages and the SEI payloads Amd 1 reads: NNPFC (210), the SEI manifest (200) and prefix indication (201).

An SEI RBSP is sei_message()s followed by rbsp_trailing_bits(); each sei_message() codes payloadType and
payloadSize as runs of 0xFF plus a last byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bits import BitReader, BitWriter
from ..box import BmffError
from .nal import (
    NAL_HEADER_SIZE,
    SEI_NAL_TYPES,
    NalHeader,
    build_nal_header,
    escape_rbsp,
    is_sei,
    parse_nal_header,
    unescape_rbsp,
)

NNPFC_PAYLOAD_TYPE, NNPFA_PAYLOAD_TYPE = 210, 211
SEI_MANIFEST_PAYLOAD_TYPE, SEI_PREFIX_INDICATION_PAYLOAD_TYPE = 200, 201


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


# ------------------------------------------------------------------------ SEI manifest, SEI prefix indication


def parse_sei_prefix_indication(payload: bytes) -> tuple[int, list[tuple[int, int]]]:
    """prefix_sei_payload_type and each indication's sei_prefix_data_bit[] as (value, count)."""
    r = BitReader(payload)
    ptype, count = r.u(16), r.u(8) + 1
    prefixes = []
    for _ in range(count):
        nbits = r.u(16) + 1
        prefixes.append((r.u(nbits), nbits))
        value, n = r.align_bits()
        if value != (1 << n) - 1:
            raise BmffError("SEI prefix indication alignment bits are not all 1")
    return ptype, prefixes


def nnpfc_prefix_has_purpose(value: int, nbits: int) -> bool:
    """Whether the first nbits of an NNPFC payload reach past nnpfc_purpose (in NNPFC_SYNTAX order)."""
    w = BitWriter()
    w.u(nbits, value)
    w.align(0)
    r = BitReader(w.to_bytes(), end=None)
    r.end = nbits
    try:
        for name, coding, _ in NNPFC_SYNTAX:
            read = {"u16": lambda: r.u(16), "u1": r.flag, "ue": r.ue}.get(coding)
            if read is None:
                return False  # purpose after a string or alignment: not reachable in a prefix
            read()
            if name == "nnpfc_purpose":
                return True
    except BmffError:
        return False
    return False


def parse_sei_manifest(payload: bytes) -> list[tuple[int, int]]:
    """(manifest_sei_payload_type, manifest_sei_description) pairs of an SEI manifest payload (type 200)."""
    if len(payload) < 2:
        raise BmffError("SEI manifest shorter than its count")
    n = int.from_bytes(payload[:2], "big")
    if len(payload) < 2 + 3 * n:
        raise BmffError(f"SEI manifest announces {n} entries but holds {(len(payload) - 2) // 3}")
    return [(int.from_bytes(payload[2 + 3 * i : 4 + 3 * i], "big"), payload[4 + 3 * i]) for i in range(n)]
