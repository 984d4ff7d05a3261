"""onnx's backend test cases through graphc: a representative subset runs here (a few
seconds); the full run (about 2,000 cases, minutes on a cold compile cache) is the
regeneration command, `python -m graphc.onnx.conformance --write docs/onnx-conformance.md`,
whose `--check` fails when fewer cases pass than the committed summary records.
GRAPHC_ONNX_CONFORMANCE=full runs that check here too."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from graphc.onnx import conformance, supported_ops  # noqa: E402
from graphc.onnx.skips import SKIPPED, SKIPPED_CASES, SKIPPED_TYPES  # noqa: E402

SUMMARY = Path(__file__).resolve().parents[2] / "docs" / "onnx-conformance.json"

# one or two cases per family: elementwise and narrow integers, products, convolution and
# pooling, normalization, shapes and indexing, resampling, recurrent and control flow,
# reductions, quantization, and ops imported through their ONNX function bodies
SUBSET = """
test_abs test_add_bcast test_cast_FLOAT_to_DOUBLE test_bitwise_and_i32_2d
test_bitshift_right_uint8 test_mod_mixed_sign_int8 test_softmax_axis_0
test_logsoftmax_default_axis test_hardmax_one_hot test_gemm_all_attributes
test_matmul_3d test_einsum_batch_matmul test_conv_with_autopad_same test_convtranspose_pads
test_maxpool_2d_ceil test_maxpool_with_argmax_2d_precomputed_pads
test_averagepool_2d_pads_count_include_pad test_lppool_2d_dilations test_globalaveragepool
test_batchnorm_epsilon test_instancenorm_example test_layer_normalization_3d_axis1_epsilon
test_lrn test_reshape_negative_dim test_slice_neg_steps test_edge_pad test_wrap_pad
test_gather_negative_indices test_gather_elements_negative_indices
test_gathernd_example_int32_batch_dim1
test_scatternd_multiply test_scatter_elements_with_duplicate_indices
test_resize_downsample_scales_cubic_antialias test_resize_tf_crop_and_resize
test_lstm_with_peepholes test_gru_seq_length test_if test_loop11 test_scan9_sum
test_top_k_smallest test_cumsum_1d_reverse_exclusive
test_argmax_negative_axis_keepdims_example_select_last_index
test_onehot_negative_indices test_tril_neg test_depthtospace_crd_mode_example
test_quantizelinear_axis test_nllloss_NCd1d2_with_weight_reduction_mean test_attention_4d_gqa
test_rotary_embedding test_cast_FLOAT_to_BFLOAT16 test_cast_no_saturate_FLOAT_to_FLOAT8E5M2
test_castlike_FLOAT_to_FLOAT4E2M1 test_cast_e8m0_FLOAT_to_FLOAT8E8M0 test_quantizelinear_int4
test_dequantizelinear_e4m3fn_zero_point test_bitcast_uint32_to_int32
""".split()
SKIPPED_SUBSET = {"test_training_dropout": "random", "test_nonzero_example": "NonZero",
                  "test_add_uint64": "uint64"}


@pytest.fixture(scope="module")
def cases():
    wanted = set(SUBSET) | set(SKIPPED_SUBSET)
    found = {c.name: c for c in conformance.node_cases() if c.name in wanted}
    assert sorted(wanted - set(found)) == [], "the subset names cases onnx no longer has"
    return found


@pytest.mark.parametrize("name", SUBSET)
def test_subset_case_passes(cases, name):
    result = conformance.run_case(cases[name])
    assert result.status == "pass", result.reason


@pytest.mark.parametrize("name", sorted(SKIPPED_SUBSET))
def test_skips_come_from_the_reviewed_lists(cases, name):
    result = conformance.run_case(cases[name])
    assert result.status == "skip" and SKIPPED_SUBSET[name] in result.reason


def test_every_onnx_op_is_supported_or_skipped_with_a_reason():
    supported = set(supported_ops())
    neither, both = [], []
    for schema in onnx.defs.get_all_schemas():
        key = schema.name if schema.domain in ("", "ai.onnx") else \
            f"{schema.domain}:{schema.name}"
        if key in supported and key in SKIPPED:
            both.append(key)
        elif key not in supported and key not in SKIPPED:
            neither.append(key)
    assert neither == [] and both == []
    assert all(reason for reason in list(SKIPPED.values()) + list(SKIPPED_CASES.values()) +
               list(SKIPPED_TYPES.values()))


def test_committed_summary_matches_the_converters():
    summary = json.loads(SUMMARY.read_text())
    assert summary["supported_ops"] == len(supported_ops()), \
        "the op set changed: regenerate docs/onnx-conformance.md"
    passing = set(summary["cases_by_status"]["pass"])
    assert set(SUBSET) <= passing
    assert summary["pass"] == len(passing)
    assert summary["supported_op_pass_rate"] >= 0.9


@pytest.mark.skipif(os.environ.get("GRAPHC_ONNX_CONFORMANCE") != "full",
                    reason="the full suite takes minutes; GRAPHC_ONNX_CONFORMANCE=full runs it")
def test_full_suite_pass_count_does_not_drop():
    assert conformance.main(["--check", str(SUMMARY)]) == 0


def test_a_wrong_value_fails_the_case(cases, monkeypatch):
    """The comparison is onnx's: a backend off by a little is caught, with the reason."""
    from graphc.onnx.runner import CompiledModel
    real_run = CompiledModel.run

    def off_by_a_little(self, feeds):
        return {k: v * np.float32(1.01) for k, v in real_run(self, feeds).items()}
    monkeypatch.setattr(CompiledModel, "run", off_by_a_little)
    result = conformance.run_case(cases["test_abs"])
    assert result.status == "fail" and "Mismatched elements" in result.reason
