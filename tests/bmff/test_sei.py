"""'seii' SeiInformationBox: byte layout, round trips, and fuzzing of its parser."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bmff
from bmff import BmffError
from bmff.amd1.boxes import SeiInformationBox


def test_layout():
    box = SeiInformationBox(requiredSEI_ID=[210], notrequiredSEI_ID=[5, 211])
    raw = box.to_bytes()
    assert raw == bytes.fromhex("00000012 73656969 0001 00d2 0002 0005 00d3".replace(" ", ""))
    assert (box.numRequiredSEIs, box.numNotRequiredSEIs) == (1, 2)
    (back,) = bmff.parse(raw).boxes
    assert back == box and back.to_bytes() == raw


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), max_size=20), st.lists(st.integers(0, 0xFFFF), max_size=20))
def test_round_trip(required, not_required):
    box = SeiInformationBox(required, not_required)
    (back,) = bmff.parse(box.to_bytes()).boxes
    assert back == box


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz_body_only_raises_bmff_error(body):
    raw = (8 + len(body)).to_bytes(4, "big") + b"seii" + body
    try:
        f = bmff.parse(raw)
    except BmffError:
        return
    assert f.to_bytes() == raw


def test_count_beyond_box_is_an_error():
    with pytest.raises(BmffError, match="entry count"):
        bmff.parse(bytes.fromhex("0000000c 73656969 0005 0001".replace(" ", "")))
