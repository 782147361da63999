"""NNCodec 2.1.3 (the NNR reference software) as the independent encoder and decoder the NNR tests compare with.

Its `nnc.compress` / `nnc.decompress` import torch; these drive the same `nnc_core` steps without it, with the
profile as a parameter (`compress` fixes profile 1). Tests that use it skip when NNCodec is not installed.
"""

import numpy as np
import pytest

nncodec = pytest.importorskip("nncodec.nnc_core", reason="NNCodec 2.1.3 is not installed (see docs/amd1.md)")
from nncodec.nnc_core import approximator, coder, nnr_model  # noqa: E402


def encode(params: dict[str, np.ndarray], qp: int = -38, profile: int = 0, dq: bool = True,
           codebook: bool = False) -> bytes:
    """NNCodec's encoder as `nnc.compress` runs it: its quantiser (and its qp rule for non-weights), DeepCABAC."""
    model = nnr_model.NNRModel(params)
    data = approximator.init_approx_data(params, model.model_info, qp_density=2, scan_order=0)
    info = approximator.ApproxInfo(data, model.model_info, "codebook" if codebook else "uniform", int(codebook),
                                   qp, False, not dq, 10, 0)
    enc_info = {"cabac_unary_length_minus1": 10, "param_opt_flag": True, "partial_data_counter": 0,
                "general_profile_idc": profile, "mps_parent_signalling_enabled_flag": 0,
                "parent_node_id_present_flag": 0, "node_id_present_flag": int(profile == 1), "device_id": 0,
                "temporal_context_modeling_flag": 0, "row_skip_enabled_flag": 0, "pre_signalling": 0}
    quantised = approximator.approx(info.approx_info, model.model_info, data, enc_info)
    bitstream, _ = coder.encode(enc_info=enc_info, model_info=model.model_info, approx_data=quantised)
    return bytes(bitstream)


def decode(bitstream: bytes) -> dict[str, np.ndarray]:
    """NNCodec's decoder as `nnc.decompress` runs it: parse, DeepCABAC-decode, dequantise."""
    flags = ("sparsification_flag", "pruning_flag", "unification_flag", "decomposition_performance_map_flag")
    info = {"parameter_type": {}, "parameter_dimensions": {}, "parameter_index": {}, "block_identifier": {},
            "topology_storage_format": None, "topology_compression_format": None,
            "performance_maps": {"mps": {}, "lps": {}},
            "performance_map_flags": {f"{p}_{f}": {} for p in ("mps", "lps") for f in flags}}
    data = coder.decode(bytearray(bitstream), info)
    approximator.rec(data)
    return data["parameters"]
