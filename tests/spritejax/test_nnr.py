"""Parameter pytrees through NNR bitstreams: lossless is bit-exact, quantized is bounded by half a step."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bmff.nnr_units import NNR_PT_FLOAT, NNR_PT_INT, NNR_PT_RAW_FLOAT, CompressedDataUnit, parse_units, units_to_bytes
from spritejax import nnr
from spritejax.errors import UserError


def _tree(rng):
    return {"encoder": {"conv": {"kernel": rng.normal(size=(3, 3, 4, 8)).astype(np.float32),
                                 "bias": np.zeros(8, np.float32)}},
            "dictionary": {"latents": rng.normal(size=(6, 16)).astype(np.float32)},
            "scalar": np.float32(0.25) * np.ones((), np.float32)}


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


@pytest.mark.parametrize("bits", [8, 16])
def test_quantized_error_within_half_step_and_smaller(bits):
    tree = _tree(np.random.default_rng(1))
    flat = nnr.flatten(tree)
    units = nnr.encode(flat, bits=bits)
    assert any(getattr(u, "nnr_compressed_data_unit_payload_type", None) == NNR_PT_INT for u in units)
    back = nnr.decode(parse_units(units_to_bytes(units)))
    for k, v in flat.items():
        step = np.max(np.abs(v)) / ((1 << (bits - 1)) - 1) if np.any(v) else 1.0
        assert np.max(np.abs(back[k] - v)) <= step / 2 + 1e-7, k
    lossless = len(units_to_bytes(nnr.encode(flat)))
    assert len(units_to_bytes(units)) < lossless


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
    """A third-party bitstream (here profile 1 with a codebook NDU) must not end in a misleading 'missing tensors'."""
    units = nnr.encode(nnr.flatten(_tree(np.random.default_rng(4))))
    units[0].general_profile_idc = 1
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
