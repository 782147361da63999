"""NAL headers, emulation prevention, length-prefixed samples, sei_message() framing and the NNPFC payload."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmff import BmffError
from bmff.amd1.nal import (
    AVC,
    HEVC,
    VVC,
    NalHeader,
    build_nal_header,
    escape_rbsp,
    join_sample,
    parse_nal_header,
    split_sample,
    unescape_rbsp,
)
from bmff.amd1.sei import (
    NNPFC_PAYLOAD_TYPE,
    NNPFC_SYNTAX,
    Nnpfc,
    SeiMessage,
    build_sei_nal,
    nnpfc_sei,
    parse_sei_message,
    parse_sei_nal,
    parse_sei_rbsp,
    sei_payload_types,
)
from bmff.bits import BitReader


@pytest.mark.parametrize("codec, suffix, header", [
    (AVC, False, "06"), (HEVC, False, "4e01"), (HEVC, True, "5001"), (VVC, False, "00b9"), (VVC, True, "00c1")])
def test_sei_nal_headers_match_spec_notes(codec, suffix, header):
    nal = build_sei_nal(codec, [SeiMessage(5, b"x")], suffix=suffix)
    assert nal.hex().startswith(header)
    assert parse_sei_nal(codec, nal) == [SeiMessage(5, b"x")]


@pytest.mark.parametrize("codec", [HEVC, VVC])
@given(st.integers(0, 63), st.integers(0, 63), st.integers(0, 6))
def test_nal_header_round_trip(codec, nut, layer, tid):
    nut &= 0x3F if codec == HEVC else 0x1F
    h = NalHeader(nut, layer, tid)
    assert parse_nal_header(codec, build_nal_header(codec, h)) == h


def test_avc_header_round_trip():
    h = NalHeader(5, nal_ref_idc=3)
    assert build_nal_header(AVC, h) == b"\x65" and parse_nal_header(AVC, b"\x65") == h


def test_emulation_prevention_examples():
    assert escape_rbsp(b"\x00\x00\x01") == b"\x00\x00\x03\x01"
    assert escape_rbsp(b"\x00\x00\x00\x00") == b"\x00\x00\x03\x00\x00\x03"
    assert escape_rbsp(b"\x00\x00\x04") == b"\x00\x00\x04"
    assert escape_rbsp(b"\x01\x00\x00") == b"\x01\x00\x00\x03"
    assert unescape_rbsp(b"\x00\x00\x03\x01\x00\x00\x03") == b"\x00\x00\x01\x00\x00"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64).map(lambda b: bytes(x & 3 for x in b)))
def test_emulation_prevention_round_trip(rbsp):
    escaped = escape_rbsp(rbsp)
    assert unescape_rbsp(escaped) == rbsp
    assert not re.search(b"\x00\x00[\x00-\x02]", escaped)
    assert not escaped.endswith(b"\x00\x00")


def test_ff_runs_in_sei_framing():
    msg = SeiMessage(300, bytes(255))
    raw = msg.to_bytes()
    assert raw[:4] == b"\xff\x2d\xff\x00"
    assert parse_sei_message(raw) == (msg, len(raw))
    assert SeiMessage(NNPFC_PAYLOAD_TYPE, b"").to_bytes() == b"\xd2\x00"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.binary(max_size=600)), min_size=1, max_size=3))
def test_sei_rbsp_round_trip(pairs):
    msgs = [SeiMessage(t, p) for t, p in pairs]
    nal = build_sei_nal(HEVC, msgs)
    assert parse_sei_nal(HEVC, nal) == msgs
    assert sei_payload_types(HEVC, [b"\x40\x01\x0c", nal]) == [t for t, _ in pairs]


def test_sample_split_join():
    nals = [b"\x06abc", b"\x65" + bytes(300)]
    for size in (1, 2, 4):
        if size == 1:
            continue
        assert split_sample(join_sample(nals, size), size) == nals
    with pytest.raises(BmffError, match="does not fit"):
        join_sample(nals, 1)
    with pytest.raises(BmffError, match="runs past"):
        split_sample(b"\x00\x00\x00\x09abc", 4)
    with pytest.raises(BmffError, match="length size"):
        split_sample(b"", 3)


def test_nnpfc_field_order_comes_from_the_table():
    payload = Nnpfc(nnpfc_purpose=0x1234, nnpfc_id=3, nnpfc_base_flag=1, nnpfc_payload_byte=b"NNR").to_payload()
    r = BitReader(payload)
    # purpose u(16), id ue(v) = 3 -> 00100, base u(1), mode ue(v) = 0 -> 1, property flag u(1)
    assert r.u(16) == 0x1234 and r.ue() == 3 and r.u(1) == 1 and r.ue() == 0 and r.u(1) == 0
    assert [n for n, _, _ in NNPFC_SYNTAX][:4] == ["nnpfc_purpose", "nnpfc_id", "nnpfc_base_flag", "nnpfc_mode_idc"]
    assert payload == b"\x12\x34\x26NNR"  # 0x26 = 00100 1 1 0: byte-aligned, so no padding


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 2 ** 20), st.integers(0, 1), st.integers(0, 1),
       st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=8),
       st.binary(max_size=40), st.one_of(st.none(), st.tuples(st.integers(0, 2 ** 30), st.integers(0, 30))))
def test_nnpfc_round_trip(purpose, nid, base, mode, uri, data, tail):
    tail = None if tail is None else (tail[0] & ((1 << tail[1]) - 1), tail[1])
    n = Nnpfc(purpose, nid, base, mode, nnpfc_tag_uri=uri if mode else "", nnpfc_uri=uri[::-1] if mode else "",
              nnpfc_property_present_flag=int(tail is not None), property_tail=tail,
              nnpfc_payload_byte=data if mode == 0 and tail is None else b"")
    back = Nnpfc.parse(n.to_payload())
    if tail is not None:
        # the payload alignment bits the builder adds become part of the tail
        shift = back.property_tail[1] - tail[1]
        assert shift >= 0 and back.property_tail[0] >> shift == tail[0]
        back.property_tail = tail
    assert back == n


def test_nnpfc_sei_message_is_complete():
    raw = nnpfc_sei(7, b"\x00\x04\x02\x00")
    msg, end = parse_sei_message(raw)
    assert end == len(raw) and msg.payload_type == 210
    n = Nnpfc.parse(msg.payload)
    assert (n.nnpfc_id, n.nnpfc_base_flag, n.nnpfc_mode_idc, n.nnpfc_payload_byte) == (7, 1, 0, b"\x00\x04\x02\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=48))
def test_fuzz_parsers_only_raise_bmff_error(data):
    for call in (lambda: parse_sei_rbsp(data), lambda: Nnpfc.parse(data), lambda: split_sample(data, 4),
                 lambda: split_sample(data, 2), lambda: parse_sei_nal(HEVC, b"\x4e\x01" + data),
                 lambda: parse_sei_nal(AVC, data), lambda: parse_sei_message(data), lambda: unescape_rbsp(data)):
        try:
            call()
        except BmffError:
            pass
