"""4.19.7 insertion of NNPFC SEI NAL units: the plan on synthetic sample groups, placement in samples,
and end to end on real H.264 / HEVC MP4 files made with ffmpeg."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmff import BmffError
from bmff.amd1.boxes import NfcsGroupingParameter as P
from bmff.amd1.boxes import NnpfcSeiSampleGroupEntry
from bmff.amd1.insert import Insertion, complete_message, insert_into_sample, plan_insertions
from bmff.amd1.nal import AVC, HEVC, VVC, NalHeader, build_nal_header, parse_nal_header
from bmff.amd1.sei import Nnpfc, SeiMessage, nnpfc_sei, parse_sei_nal

BASE, UPD = 0, 1


def plan(sync, groups, sdi=None):
    n = len(sync)
    return plan_insertions([bool(s) for s in sync], sdi or [1] * n, groups)


def test_base_repeated_at_sync_samples_only():
    p = plan([1, 0, 0, 1, 0, 0], {P(BASE, 1): [1] * 6})
    assert [bool(x) for x in p] == [True, False, False, True, False, False]
    assert p[0] == [Insertion(1, ((BASE, 1),))]


def test_base_change_and_sample_entry_change_trigger():
    p = plan([1, 0, 0, 0, 0, 0], {P(BASE, 1): [1, 1, 2, 2, 2, 2]}, sdi=[1, 1, 1, 1, 2, 2])
    assert [i for i, x in enumerate(p) if x] == [0, 2, 4]
    assert p[2] == [Insertion(1, ((BASE, 2),))] and p[4] == [Insertion(1, ((BASE, 2),))]


def test_updates_alone_and_with_their_base():
    groups = {P(BASE, 7): [1] * 6, P(UPD, 7): [0, 1, 1, 0, 2, 2]}
    p = plan([1, 0, 0, 1, 0, 0], groups)
    assert p[0] == [Insertion(7, ((BASE, 1),))]
    assert p[1] == [Insertion(7, ((UPD, 1),))]
    assert p[2] == [] and p[5] == []
    assert p[3] == [Insertion(7, ((BASE, 1),))]
    assert p[4] == [Insertion(7, ((UPD, 2),))]
    # a sync sample mapped to an update carries base then update in one SEI NAL unit
    p = plan([1, 0, 1], {P(BASE, 7): [1, 1, 1], P(UPD, 7): [0, 1, 1]})
    assert p[2] == [Insertion(7, ((BASE, 1), (UPD, 1)))]


def test_every_mapped_filter_gets_a_nal_unit():
    groups = {P(BASE, 2): [1, 1, 1, 1], P(BASE, 1): [1, 1, 2, 2]}
    p = plan([1, 0, 0, 0], groups)
    assert p[0] == [Insertion(1, ((BASE, 1),)), Insertion(2, ((BASE, 1),))]
    assert p[2] == [Insertion(1, ((BASE, 2),)), Insertion(2, ((BASE, 1),))]
    assert p[1] == p[3] == []


def test_plan_rejects_ragged_lists():
    with pytest.raises(BmffError, match="one value per sample"):
        plan_insertions([True], [1, 1], {})


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.lists(st.booleans(), min_size=n, max_size=n), st.lists(st.integers(1, 2), min_size=n, max_size=n),
    st.lists(st.integers(0, 2), min_size=n, max_size=n), st.lists(st.integers(0, 2), min_size=n, max_size=n))))
def test_plan_invariants(case):
    sync, sdi, base, upd = case
    upd = [u if b else 0 for b, u in zip(base, upd)]  # the amendment's rule: no update without a base
    p = plan_insertions(sync, sdi, {P(BASE, 3): base, P(UPD, 3): upd})
    for i, ins in enumerate(p):
        sent = [m for x in ins for m in x.messages]
        if not base[i]:
            assert ins == []
            continue
        if sync[i] or i == 0 or sdi[i] != sdi[i - 1] or base[i] != base[i - 1]:
            assert sent[0] == (BASE, base[i]) and ((UPD, upd[i]) in sent) == bool(upd[i])
        elif upd[i] and upd[i] != upd[i - 1]:
            assert sent == [(UPD, upd[i])]
        else:
            assert sent == []


def _vcl(codec, layer=0, tid=0):
    nut = {AVC: 5, HEVC: 19, VVC: 7}[codec]
    return build_nal_header(codec, NalHeader(nut, layer, tid, 3 if codec == AVC else 0)) + b"\x88\x80"


def test_placement_per_layer_for_hevc():
    ps = build_nal_header(HEVC, NalHeader(34)) + b"\x01"
    nals = [ps, _vcl(HEVC, 0, 0), _vcl(HEVC, 0, 0), _vcl(HEVC, 1, 2)]
    msgs = [[SeiMessage(210, b"\x00\x00\x01\x02")]]
    out = insert_into_sample(HEVC, nals, msgs)
    types = [(parse_nal_header(HEVC, n).nal_unit_type, parse_nal_header(HEVC, n).layer_id) for n in out]
    assert types == [(34, 0), (39, 0), (19, 0), (19, 0), (39, 1), (19, 1)]
    assert parse_nal_header(HEVC, out[4]).temporal_id == 2
    assert parse_sei_nal(HEVC, out[1]) == msgs[0]


def test_placement_for_avc_and_vvc():
    sps = b"\x67\x42"
    out = insert_into_sample(AVC, [b"\x09\xf0", sps, _vcl(AVC)], [[SeiMessage(210, b"a")], [SeiMessage(210, b"b")]])
    assert [n[0] & 0x1F for n in out] == [9, 7, 6, 6, 5]
    out = insert_into_sample(VVC, [_vcl(VVC)], [[SeiMessage(210, b"a")]])
    assert out[0][:2] == b"\x00\xb9"
    assert insert_into_sample(AVC, [sps], [[SeiMessage(210, b"a")]])[1][0] == 6


def test_complete_message_appends_item_bitstream():
    entry = NnpfcSeiSampleGroupEntry("nnet", [5], nnpfc_sei(4))
    msg = complete_message(entry, b"NNRDATA")
    assert Nnpfc.parse(msg.payload).nnpfc_payload_byte == b"NNRDATA"
    with pytest.raises(BmffError, match="not found"):
        complete_message(entry, None)
    with pytest.raises(BmffError, match="after its sei_message"):
        complete_message(NnpfcSeiSampleGroupEntry("nnet", [], nnpfc_sei(4) + b"x"), None)
