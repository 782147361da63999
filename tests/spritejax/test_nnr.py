"""Parameter pytrees through NNR bitstreams: lossless is bit-exact; quantised bitstreams decode identically in
spritejax and in NNCodec 2.1.3 (the reference software), both ways; bad input is one clear error."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmff.nnr_units import NNR_PT_FLOAT, NNR_PT_RAW_FLOAT, CompressedDataUnit, parse_units, units_to_bytes
from spritejax import nnr
from spritejax.errors import UserError


def _tree(rng):
    return {"encoder": {"conv": {"kernel": rng.normal(size=(3, 3, 4, 8)).astype(np.float32),
                                 "bias": np.zeros(8, np.float32)}},
            "dictionary": {"latents": rng.normal(size=(6, 16)).astype(np.float32)},
            "scalar": np.float32(0.25) * np.ones((), np.float32)}


def _nncodec():
    """The reference encoder/decoder (tests/spritejax/nncodec_ref.py); the test skips without NNCodec."""
    import nncodec_ref

    return nncodec_ref


def test_lossless_round_trip_is_bit_exact():
    tree = _tree(np.random.default_rng(0))
    data = units_to_bytes(nnr.encode(nnr.flatten(tree)))
    back = nnr.unflatten(nnr.decode_bytes(data), tree)
    flat_a, flat_b = nnr.flatten(tree), nnr.flatten(back)
    assert flat_a.keys() == flat_b.keys()
    for k in flat_a:
        assert flat_a[k].tobytes() == flat_b[k].tobytes(), k
    types = {u.nnr_compressed_data_unit_payload_type for u in parse_units(data)[2:]}
    assert types == {NNR_PT_RAW_FLOAT}


def test_quantised_export_without_nncodec_says_how_to_install(monkeypatch):
    """No DeepCABAC: one line naming the install, not an ImportError; lossless needs nothing."""
    monkeypatch.setitem(sys.modules, "nncodec.extensions", None)
    with pytest.raises(UserError, match=r"NNCodec 2\.1\.3's DeepCABAC, without torch: pip install .*--no-deps"):
        nnr.encode({"w": np.ones((2, 2), np.float32)}, qp=-38)
    assert nnr.decode_bytes(units_to_bytes(nnr.encode({"w": np.ones((2, 2), np.float32)})))["w"].sum() == 4


def test_step_size_is_the_standards():
    """(2^d + qp mod 2^d) · 2^(qp div 2^d − d) with d = 2: qp −38 → 6 · 2^−12, qp 0 → 1, qp 5 → 5/4 · 2."""
    assert nnr.step_size(-38) == np.float32(6 / 4096) and nnr.step_size(0) == 1 and nnr.step_size(5) == 2.5
    for bad in (-4097, 4096, -700, 600):
        with pytest.raises(UserError, match=f"qp {bad} is out of range"):
            nnr.check_qp(bad)


@pytest.mark.parametrize("dq", [False, True])
def test_quantised_bitstream_decodes_identically_in_nncodec(dq):
    """The reference decoder gives exactly the tensors `spritejax import` gives; uniform errors ≤ a step."""
    ref = _nncodec()
    flat = nnr.flatten(_tree(np.random.default_rng(1)))
    units = nnr.encode(flat, qp=-30, dq=dq)
    data = units_to_bytes(units)
    ours, theirs = nnr.decode_bytes(data), ref.decode(data)
    assert ours.keys() == theirs.keys() == flat.keys()
    for k, v in flat.items():
        assert ours[k].dtype == np.float32 and ours[k].tobytes() == np.asarray(theirs[k], np.float32).tobytes(), k
        if not dq:  # the rate-distortion choice moves a value to a neighbouring level at most
            assert np.max(np.abs(ours[k] - v)) <= nnr.step_size(nnr.tensor_qp(-30, v)) * 1.0001, k
    coded = [u for u in parse_units(data) if getattr(u, "nnr_compressed_data_unit_payload_type", None) == NNR_PT_FLOAT]
    assert {u.dq_flag for u in coded} == {int(dq)} and {u.nnr_decompressed_data_format for u in coded} == {1}
    mps = parse_units(data)[1]
    assert (mps.mps_quantization_method_flags, mps.mps_qp_density, mps.mps_quantization_parameter) == (1, 2, -30)
    assert len(data) < len(units_to_bytes(nnr.encode(flat))) / 2


@pytest.mark.parametrize("profile", [0, 1])
@pytest.mark.parametrize("dq", [False, True])
def test_nncodec_bitstreams_import_bit_exact(profile, dq):
    """NNCodec's encoder on a model's tensors: every tensor back by name, identical to NNCodec's own decoding."""
    ref = _nncodec()
    flat = {k: v for k, v in nnr.flatten(_tree(np.random.default_rng(5))).items() if v.ndim}
    data = ref.encode(flat, qp=-34, profile=profile, dq=dq)
    ours, theirs = nnr.decode_bytes(data), ref.decode(data)
    assert ours.keys() == flat.keys()
    for k in flat:
        assert ours[k].tobytes() == theirs[k].tobytes(), k
    assert parse_units(data)[0].general_profile_idc == profile


def test_unsupported_tools_are_named():
    """A codebook (NNCodec's codebook mode) is refused naming the tool, unit by unit."""
    ref = _nncodec()
    data = ref.encode({"w": np.random.default_rng(6).normal(size=(8, 8)).astype(np.float32)}, codebook=True)
    with pytest.raises(UserError, match=r"1 NNR unit could not be read: unit 4 \(NNR_NDU, \d+ bytes: codebook not"):
        nnr.decode_bytes(data)


def test_shape_and_name_mismatch_are_user_errors():
    tree = _tree(np.random.default_rng(2))
    flat = nnr.decode_bytes(units_to_bytes(nnr.encode(nnr.flatten(tree))))
    bad = dict(flat)
    bad["dictionary/latents"] = np.zeros((5, 16), np.float32)
    with pytest.raises(UserError, match="dictionary/latents"):
        nnr.unflatten(bad, tree)
    del bad["dictionary/latents"]
    with pytest.raises(UserError, match="missing"):
        nnr.unflatten(bad, tree)


def test_truncated_bitstream_is_user_error():
    data = units_to_bytes(nnr.encode(nnr.flatten(_tree(np.random.default_rng(3)))))
    with pytest.raises(UserError):
        nnr.decode_bytes(data[:-7])


def test_units_that_cannot_be_read_are_named():
    """A third-party bitstream (here with a codebook NDU) must not end in a misleading 'missing tensors'."""
    units = nnr.encode(nnr.flatten(_tree(np.random.default_rng(4))))
    units.insert(3, CompressedDataUnit(nnr_compressed_data_unit_payload_type=NNR_PT_FLOAT, codebook_present_flag=1,
                                       topology_elem_id="extra", tensor_dimensions=[2], payload=bytes(8)))
    with pytest.raises(UserError, match=r"1 NNR unit could not be read: unit 4 \(NNR_NDU, \d+ bytes: codebook not "
                                        r"modelled\)"):
        nnr.decode_bytes(units_to_bytes(units))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=0, max_size=3), st.integers(0, 2**31 - 1))
def test_any_shape_round_trips(dims, seed):
    x = np.random.default_rng(seed).normal(size=dims).astype(np.float32)
    out = nnr.decode_bytes(units_to_bytes(nnr.encode({"t": x})))["t"]
    assert out.shape == x.shape and out.tobytes() == x.tobytes()


def test_the_spec_notes_vector_decodes_in_the_reference_decoder():
    """tests/bmff/test_nnr_units.py's known vector (SPEC-NOTES: an NNR start unit, a model parameter set and one
    raw-float data unit for conv1.weight [2, 3] = 0..5), byte for byte, read by NNCodec instead of by bmff."""
    import struct

    vector = (bytes.fromhex("00040200") + bytes.fromhex("000606000080") + bytes.fromhex("002d1611") + b"conv1.weight"
              + bytes.fromhex("008120a0c2") + struct.pack("<6f", *range(6)))
    decoded = _nncodec().decode(vector)
    assert list(decoded) == ["conv1.weight"]
    np.testing.assert_array_equal(decoded["conv1.weight"], np.arange(6, dtype=np.float32).reshape(2, 3))
