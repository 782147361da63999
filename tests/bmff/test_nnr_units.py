"""NNR unit framing and headers (ISO/IEC 15938-17) against the SPEC-NOTES vector, round trips, and fuzzing."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmff import BmffError
from bmff.bits import BitReader, BitWriter
from bmff.nnr_units import (
    NNR_AGG,
    NNR_LPS,
    NNR_MPS,
    NNR_NDU,
    NNR_PT_FLOAT,
    NNR_PT_INT,
    NNR_QNT,
    NNR_STR,
    NNR_TPL,
    CompressedDataUnit,
    ModelParameterSetUnit,
    NnrUnit,
    ParseState,
    StartUnit,
    TopologyUnit,
    build_raw_float_bitstream,
    build_raw_float_ndu,
    parse_unit,
    parse_units,
    raw_float_tensors,
    split_config_units,
    units_to_bytes,
)

F32_0_TO_5 = struct.pack("<6f", *range(6))
VECTOR = (bytes.fromhex("00040200") + bytes.fromhex("000606000080") + bytes.fromhex("002d1611") + b"conv1.weight"
          + bytes.fromhex("0081 20a0c2".replace(" ", "")) + F32_0_TO_5)


def test_spec_notes_vector_is_byte_exact():
    assert build_raw_float_bitstream([("conv1.weight", [2, 3], F32_0_TO_5)], general_profile_idc=0) == VECTOR
    assert build_raw_float_ndu("conv1.weight", [2, 3], F32_0_TO_5) == VECTOR[10:]


def test_spec_notes_vector_parses_typed():
    str_u, mps, ndu = parse_units(VECTOR)
    assert isinstance(str_u, StartUnit) and str_u.general_profile_idc == 0
    assert isinstance(mps, ModelParameterSetUnit) and not mps.has_qp and not mps.has_maps
    assert isinstance(ndu, CompressedDataUnit)
    assert (ndu.topology_elem_id, ndu.tensor_dimensions, ndu.payload) == ("conv1.weight", [2, 3], F32_0_TO_5)
    assert raw_float_tensors([str_u, mps, ndu]) == [("conv1.weight", [2, 3], F32_0_TO_5)]
    assert units_to_bytes([str_u, mps, ndu]) == VECTOR


def test_config_split_keeps_order():
    units = parse_units(VECTOR)
    config, rest = split_config_units(units)
    assert [u.nnr_unit_type for u in config] == [NNR_STR, NNR_MPS]
    assert [u.nnr_unit_type for u in rest] == [NNR_NDU]


def test_large_unit_uses_31_bit_size():
    data = bytes(4 * 10000)
    raw = build_raw_float_ndu("big", [100, 100], data)
    assert raw[0] >> 7 == 1 and int.from_bytes(raw[:4], "big") & 0x7FFFFFFF == len(raw)
    (unit,) = parse_units(raw)
    assert unit.payload == data and unit.to_bytes() == raw


def test_size_flag_kept_when_wider_than_needed():
    unit = StartUnit(general_profile_idc=7, nnr_unit_size_flag=1)
    raw = unit.to_bytes()
    assert raw == bytes.fromhex("80000006") + bytes([0x02, 7])
    assert parse_units(raw)[0] == unit


def test_partial_data_counter_and_untyped_units_round_trip():
    units = [NnrUnit(t, 0, 5, b"\x01\x02\x03") for t in (NNR_LPS, NNR_QNT, NNR_AGG, 40)]
    raw = units_to_bytes(units)
    assert parse_units(raw) == units
    assert raw[2] == (NNR_LPS << 2) | 0b01 and raw[3] == 5


def test_mps_with_quantization_and_maps_round_trips():
    mps = ModelParameterSetUnit(mps_quantization_method_flags=1, mps_qp_density=5, mps_quantization_parameter=-77,
                                mps_pruning_flag=1, performance_maps=b"\x01\x02\x80")
    (back,) = parse_units(mps.to_bytes())
    assert back == mps


def test_indexed_topology_comes_from_the_mps():
    mps = ModelParameterSetUnit(mps_topology_indexed_reference_flag=1)
    ndu = CompressedDataUnit(topology_elem_id=None, topology_elem_id_index=9, tensor_dimensions=[1],
                             payload=bytes(4))
    units = parse_units(units_to_bytes([mps, ndu]))
    assert units[1] == ndu
    # Without the MPS, the same NDU bytes read as a NUL-terminated name fail and stay untyped but intact.
    alone = parse_units(ndu.to_bytes())[0]
    assert alone.to_bytes() == ndu.to_bytes()
    assert parse_units(ndu.to_bytes(), ParseState(mps_topology_indexed_reference_flag=1))[0] == ndu


def test_ndu_optional_fields_round_trip():
    ndu = CompressedDataUnit(nnr_compressed_data_unit_payload_type=NNR_PT_INT, dq_flag=1, topology_elem_id="a.b",
                             nnr_decompressed_data_format=1, tensor_dimensions=[3, 4, 5],
                             cabac_unary_length_minus1=10, compressed_parameter_types=0b0100, payload=b"xyz")
    assert parse_units(ndu.to_bytes())[0] == ndu
    no_inputs = CompressedDataUnit(topology_elem_id="w", input_parameters_present_flag=0, payload=b"\0" * 8)
    assert parse_units(no_inputs.to_bytes())[0] == no_inputs


def test_unmodelled_features_stay_as_bytes():
    # scan_order != 0 brings entry points this module does not model: the unit stays generic, bytes intact.
    w = BitWriter()
    w.u(6, NNR_NDU); w.u(2, 0b10)  # noqa: E702  (one line per syntax row)
    w.u(5, 2); w.u(3, 0b001)  # noqa: E702
    w.st("t")
    w.u(1, 1); w.u(1, 0); w.u(4, 0); w.ue(2, 1); w.ue(4, 7); w.ue(4, 7); w.u(4, 3)  # noqa: E702
    w.byte_alignment()
    body = w.to_bytes()
    raw = (len(body) + 2).to_bytes(2, "big") + body
    (unit,) = parse_units(raw)
    assert type(unit) is NnrUnit and unit.to_bytes() == raw
    assert unit.untyped_reason == "entry points not modelled"


def test_every_unit_is_kept_and_says_why_it_is_untyped():
    codebook = CompressedDataUnit(nnr_compressed_data_unit_payload_type=NNR_PT_FLOAT, codebook_present_flag=1,
                                  topology_elem_id="w", tensor_dimensions=[1], payload=bytes(4),
                                  general_profile_idc=1)
    raw = units_to_bytes([StartUnit(general_profile_idc=1), codebook, NnrUnit(NNR_TPL, body=b"\1"),
                          NnrUnit(NNR_LPS, body=b"\1")])
    start, ndu, tpl, lps = parse_units(raw)
    assert start == StartUnit(general_profile_idc=1) and units_to_bytes([start, ndu, tpl, lps]) == raw
    assert type(ndu) is NnrUnit and ndu.nnr_unit_type == NNR_NDU and ndu.untyped_reason == "codebook not modelled"
    assert type(tpl) is NnrUnit and "needs 8 bits" in tpl.untyped_reason  # a TPL header needs two bytes
    assert type(lps) is NnrUnit and lps.untyped_reason is None  # no parser for the type: nothing failed


def test_profile_1_fields_round_trip():
    """The STR's profile decides the MPS and NDU syntax: profile 1's node ids, strings and dimension shift."""
    units = [StartUnit(general_profile_idc=1),
             ModelParameterSetUnit(mps_quantization_method_flags=1, mps_qp_density=2, mps_quantization_parameter=-38,
                                   base_model_id="base", metric_type_performance_map_valid_flag=1,
                                   performance_metric_type="acc", mps_parent_signalling_enabled_flag=1,
                                   general_profile_idc=1),
             TopologyUnit(payload=b"\0"),
             CompressedDataUnit(nnr_compressed_data_unit_payload_type=NNR_PT_FLOAT, topology_elem_id="w", dq_flag=1,
                                tensor_dimensions=[3, 2], cabac_unary_length_minus1=10, node_id=(0, 7, 1),
                                parent_node_id_present_flag=0, first_tensor_dimension_shift=1, payload=b"\xaa",
                                general_profile_idc=1)]
    raw = units_to_bytes(units)
    back = parse_units(raw)
    assert back == units and units_to_bytes(back) == raw and back[3].node_id == (0, 7, 1)


@pytest.mark.parametrize("raw, message", [
    (b"\x00", "truncated"),
    (b"\x00\x02\x02", "smaller than the unit header"),
    (b"\x00\x09\x02\x00", "runs past the end"),
    (b"\x80\x00", "truncated"),
])
def test_malformed_framing_is_a_bmff_error(raw, message):
    with pytest.raises(BmffError, match=message):
        parse_units(raw)


def test_bad_tensor_input_is_a_bmff_error():
    with pytest.raises(BmffError, match="needs 24 bytes"):
        build_raw_float_ndu("x", [2, 3], b"\0" * 20)
    with pytest.raises(BmffError, match="contains a NUL"):
        build_raw_float_ndu("x\0y", [1], b"\0" * 4)


names = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20)
dims = st.lists(st.integers(0, 6), min_size=0, max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(names, dims), max_size=4), st.integers(0, 255))
def test_raw_float_bitstreams_round_trip(tensors, profile):
    import math
    items = [(n, d, bytes((i * 7) % 256 for i in range(4 * math.prod(d))))
             for n, d in tensors]
    raw = build_raw_float_bitstream(items, profile)
    units = parse_units(raw)
    assert units[0].general_profile_idc == profile
    assert raw_float_tensors(units) == items
    assert units_to_bytes(units) == raw


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_parse_units_only_raises_bmff_error(data):
    try:
        units = parse_units(data)
    except BmffError:
        return
    assert units_to_bytes(units) == data


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(VECTOR) - 1), st.integers(0, 255))
def test_fuzz_mutated_vector(pos, value):
    data = bytearray(VECTOR)
    data[pos] = value
    try:
        units = parse_units(bytes(data))
    except BmffError:
        return
    assert units_to_bytes(units) == bytes(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 2 ** 32 - 1)), max_size=20))
def test_exp_golomb_round_trip(values):
    w = BitWriter()
    for k, v in values:
        w.ue(v, k)
        w.se(-v, k)
    w.align(0)
    r = BitReader(w.to_bytes())
    assert [(k, r.ue(k), -r.se(k)) for k, _ in values] == [(k, v, v) for k, v in values]


def test_parse_unit_offset():
    unit, end = parse_unit(VECTOR, 4)
    assert isinstance(unit, ModelParameterSetUnit) and end == 10
