"""Round trips and fuzzing of every Amd 1 box and sample group entry."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bmff
from bmff import BmffError, amd1
from bmff.amd1.boxes import (
    HandlerProperty,
    NfcsGroupingParameter,
    NnpfaSampleGroupEntry,
    NnpfcSeiSampleGroupEntry,
    NNRConfigurationItemProperty,
    NnrUnitArray,
    SampleToMetadataItemEntry,
    SeiInformationBox,
)
from bmff.amd1.sei import nnpfc_sei
from bmff.boxes.file import FileTypeBox
from bmff.boxes.restricted import OriginalFormatBox, RestrictedSchemeInfoBox, SchemeInformationBox, SchemeTypeBox
from bmff.nnr_units import ModelParameterSetUnit, StartUnit, build_raw_float_bitstream, parse_units, units_to_bytes

NNR = build_raw_float_bitstream([("w", [2], struct.pack("<2f", 1.0, 2.0))])


def reparse(box):
    raw = box.to_bytes()
    (back,) = bmff.parse(raw).boxes
    assert back.to_bytes() == raw
    return back


def test_rinf_tree_round_trips():
    rinf = RestrictedSchemeInfoBox(children=[
        OriginalFormatBox("hvc1"), SchemeTypeBox("aSEI", 1),
        SchemeInformationBox(children=[SeiInformationBox([210], [211])])])
    back = reparse(rinf)
    assert back == rinf
    assert back.find("schi/seii").requiredSEI_ID == [210]
    assert back.find("frma").data_format == "hvc1"


def test_schm_uri_follows_flags():
    box = SchemeTypeBox("aSEI", 2, "urn:x", flags=1)
    assert reparse(box) == box
    assert box.to_bytes().endswith(b"urn:x\0")


def test_nnrc_layout_and_round_trip():
    units = parse_units(NNR)
    prop = NNRConfigurationItemProperty.from_units(units[:2])
    raw = prop.to_bytes()
    assert raw[8:12] == b"\0\0\0\0"  # version 0, flags 0
    assert raw[12:17] == bytes([2, 0, 1, 1, 1])  # two arrays: STR x1, MPS x1
    assert raw[17:] == NNR[:10]
    back = reparse(prop)
    assert back == prop and back.units() == units[:2]
    assert [type(u) for u in back.units()] == [StartUnit, ModelParameterSetUnit]


def test_nnrc_keeps_mps_state_for_item_data():
    prop = NNRConfigurationItemProperty.from_units([ModelParameterSetUnit(mps_topology_indexed_reference_flag=1)])
    assert prop.parse_state().mps_topology_indexed_reference_flag == 1


def test_nnrc_passes_the_profile_on_to_item_data():
    """A profile-1 STR and MPS in 'nnrC': the item data's NDUs parse as profile 1, the same units as the joined
    bitstream gives."""
    whole = parse_units(build_raw_float_bitstream([("w", [2], struct.pack("<2f", 1.0, 2.0))], general_profile_idc=1))
    config, rest = whole[:2], whole[2:]
    prop = NNRConfigurationItemProperty.from_units(config)
    state = prop.parse_state()
    assert (state.general_profile_idc, state.mps_parent_signalling_enabled_flag) == (1, 0)
    back = parse_units(units_to_bytes(rest), state)
    assert back == rest and type(back[0]) is type(rest[0]) and type(rest[0]).__name__ != "NnrUnit"


def test_hdlp_round_trip():
    assert reparse(HandlerProperty("nnet")) == HandlerProperty("nnet")


def test_nfcs_grouping_parameter():
    p = NfcsGroupingParameter(1, 5)
    assert p.to_int() == 0x80000005 and NfcsGroupingParameter.from_int(0x80000005) == p
    with pytest.raises(BmffError, match="does not fit"):
        NfcsGroupingParameter(0, 1 << 31).to_int()


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 1), st.integers(0, 2 ** 31 - 1))
def test_nfcs_grouping_parameter_round_trip(flag, fid):
    p = NfcsGroupingParameter(flag, fid)
    assert NfcsGroupingParameter.from_int(p.to_int()) == p


fourcc = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=4, max_size=4)


@settings(max_examples=100, deadline=None)
@given(fourcc, st.lists(st.integers(0, 2 ** 32 - 1), max_size=4), st.binary(max_size=30))
def test_entries_round_trip(handler, ids, sei):
    stmi = SampleToMetadataItemEntry(handler, ids)
    assert SampleToMetadataItemEntry.parse(stmi.to_bytes()) == stmi
    nfcs = NnpfcSeiSampleGroupEntry(handler, ids, sei)
    assert NnpfcSeiSampleGroupEntry.parse(nfcs.to_bytes()) == nfcs
    assert NnpfaSampleGroupEntry.parse(sei).to_bytes() == sei


def test_nfcs_entry_layout():
    e = NnpfcSeiSampleGroupEntry("nnet", [3], nnpfc_sei(1))
    assert e.to_bytes() == b"nnet" + bytes.fromhex("00000001 00000003".replace(" ", "")) + nnpfc_sei(1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 4]), st.integers(0, 255)), max_size=5))
def test_nnrc_round_trip(specs):
    units = [StartUnit(general_profile_idc=p) if t == 0 else ModelParameterSetUnit(mps_qp_density=p & 7,
             mps_quantization_method_flags=1) if t == 1 else parse_units(bytes([0, 4, t << 2, p]))[0]
             for t, p in specs]
    prop = NNRConfigurationItemProperty.from_units(units)
    assert reparse(prop) == prop


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"seii", b"nnrC", b"hdlp", b"frma", b"schm", b"schi", b"rinf"]), st.binary(max_size=40))
def test_fuzz_box_bodies_only_raise_bmff_error(box_type, body):
    raw = (8 + len(body)).to_bytes(4, "big") + box_type + body
    try:
        f = bmff.parse(raw)
    except BmffError:
        return
    assert f.to_bytes() == raw


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz_entries_only_raise_bmff_error(data):
    for cls in (SampleToMetadataItemEntry, NnpfcSeiSampleGroupEntry, NnpfaSampleGroupEntry):
        try:
            assert cls.parse(data).to_bytes() == data
        except BmffError:
            pass


def test_nnrc_bad_unit_is_a_bmff_error():
    raw = NNRConfigurationItemProperty(arrays=[NnrUnitArray(0, [StartUnit()])]).to_bytes()[:-1]
    raw = len(raw).to_bytes(4, "big") + raw[4:]  # the box is whole, its last NNR unit is cut
    with pytest.raises(BmffError, match="nnrC: nnr_unit_size 4 runs past"):
        bmff.parse(raw)


# --------------------------------------------------------------------------------------------- writers


def test_mime_item_writes_an_empty_content_encoding():
    meta = amd1.new_meta()
    amd1.add_item(meta, "mime", b"{}", "config", content_type="application/json")
    infe = reparse(meta).find("iinf/infe")
    assert infe.to_bytes().endswith(b"config\0application/json\0\0")  # mp4box.js reads a byte past it otherwise
    assert infe.content_encoding == ""


def test_iref_is_written_only_with_references():
    f = bmff.File([FileTypeBox()])
    meta = amd1.file_meta(f)
    model = amd1.nnr_item(meta, NNR)
    assert reparse(meta).find("iref") is None
    config = amd1.add_item(meta, "mime", b"{}", content_type="application/json")
    amd1.add_reference(meta, "cdsc", config, [model])
    back = reparse(meta)
    assert [c.type for c in back.children].index("iref") == [c.type for c in back.children].index("iloc") + 1
    assert list(amd1.references(back, "cdsc")) == [(config, [model])]


def test_update_item_shares_an_identical_nnrc_property():
    meta = amd1.new_meta()
    base = amd1.nnr_item(meta, NNR)
    update = amd1.nnr_item(meta, build_raw_float_bitstream([("w", [2], struct.pack("<2f", 3.0, 4.0))]))
    other = amd1.nnr_item(meta, build_raw_float_bitstream([("w", [2], bytes(8))], general_profile_idc=1))
    back = reparse(meta)
    assert len(amd1.properties(back)) == 2
    assert amd1.item_properties(back, base) == amd1.item_properties(back, update) != amd1.item_properties(back, other)
