#!/usr/bin/env bash
# One time-boxed session of GPU checks (about 7 minutes on a 16-core machine with one GPU):
# the CUDA target's tests on the real device, the differential fuzzer's `cuda` configuration,
# and W1-W4/W9 timings beside torch on the same GPU. Logs go to $OUT (default ./gpu-out).
#   bash bench/gpu_check.sh            (pycuda installed, or wheels in .whl/)
set -u
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if command -v nvidia-smi >/dev/null && ! python3 -c "import pycuda" 2>/dev/null && ls .whl/pycuda-*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --target .gpusite .whl/*.whl || exit 1
  export PYTHONPATH=$PWD/.gpusite
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD:$PWD/bench
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/smi.txt"
nproc
python3 - <<'PY' 2>&1 | tee "$OUT/smoke.txt"
import numpy as np, graphc as tf
x = tf.placeholder(tf.float32, [4096, 4096])
with tf.Session(target="cuda") as sess:
    v = np.random.default_rng(0).standard_normal((4096, 4096)).astype(np.float32)
    got = sess.run(tf.nn.softmax(x), {x: v})
e = np.exp(v - v.max(1, keepdims=True)); want = e / e.sum(1, keepdims=True)
print("smoke softmax 4096x4096 max abs err", float(np.abs(got - want).max()))
PY
stage() {  # name, seconds, pytest args...
  local name=$1 secs=$2; shift 2
  GRAPHC_TEST_TARGETS=cuda GPU_DEADLINE_S=$secs timeout $((secs + 60)) python3 -m pytest -q \
    -p gpu_deadline -p no:cacheprovider -n 16 --timeout 90 -rfE --tb=short \
    -k "cuda and not emulated" "$@" > "$OUT/$name.log" 2>&1
  echo "== $name rc=$?"; grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/$name.log" | tail -40
}
stage priority "${STAGE_A_S:-100}" tests/runtime tests/codegen_cuda tests/ops/test_control_flow.py \
  tests/ops/test_control_flow_grad.py tests/ops/test_conv.py tests/ops/test_pool.py \
  tests/ops/test_rnn_cell.py tests/ops/test_rnn_dynamic.py tests/ops/test_tensor_array.py \
  tests/ops/test_nn_norm.py tests/ops/test_promotion.py tests/test_train_digits.py \
  tests/test_train_lstm.py tests/test_docs.py tests/passes
stage tables "${STAGE_B_S:-140}" tests/ops/test_nn_ops.py tests/ops/test_array_ops.py \
  tests/ops/test_indexing.py tests/ops/test_math_ops.py
timeout "${FUZZ_S:-80}" python3 -m graphc fuzz --config cuda --n "${FUZZ_N:-400}" --jobs 16 \
  --seed "${FUZZ_SEED:-2500000}" --no-minimize --json "$OUT/fuzz.json" > "$OUT/fuzz.log" 2>&1
echo "== fuzz rc=$?"; grep -E "^graphc fuzz|^  |^--- seed" "$OUT/fuzz.log" | cut -c1-300 | head -40
timeout "${TIMING_S:-80}" python3 bench/gpu_timing.py --json "$OUT/timing.json" > "$OUT/timing.log" 2>&1
echo "== timing rc=$?"; tail -8 "$OUT/timing.log"
