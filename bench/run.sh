#!/bin/sh
# bench/run.sh SRCDIR BUILDDIR - the whole core benchmark in one go:
#   1. builds the benchmark model (random weights) into BUILDDIR/bench,
#   2. times the PyTorch reference on it (as typically run, and tuned),
#   3. runs bench_core, which measures sgemm/sgemv and the core (F32, the
#      same weights as F16 used in place, and int8) and prints the table with
#      PyTorch's best at each thread count alongside, and the targets.
# Environment: S2S_PYTHON (default /usr/bin/python3), BENCH_SECONDS (time per
# measurement, default 2), BENCH_THREADS (OpenBLAS thread counts, default 2,1).
set -eu
src=${1:?usage: run.sh SRCDIR BUILDDIR}
build=${2:?usage: run.sh SRCDIR BUILDDIR}
py=${S2S_PYTHON:-/usr/bin/python3}
secs=${BENCH_SECONDS:-2}
threads=${BENCH_THREADS:-2,1}
model=$build/bench/bench-model.safetensors
model16=$build/bench/bench-model-f16.safetensors
torch_out=$build/bench/torch.txt
mkdir -p "$build/bench"

if ! "$py" -c 'import torch' 2>/dev/null; then
	echo "run.sh: torch is not importable with $py (install python3-torch):" \
		"the benchmark model and the PyTorch figures need it" >&2
	exit 1
fi

if [ ! -s "$model" ]; then
	echo "== building the benchmark model: $model"
	"$py" "$src/bench/make_bench_model.py" --srcdir "$src" --out "$model"
fi
if [ ! -s "$model16" ]; then
	echo "== the same weights stored as F16: $model16"
	"$py" "$src/bench/make_bench_model.py" --srcdir "$src" --out "$model16" --dtype F16
fi

echo "== PyTorch reference (greedy loop, torch.no_grad())"
"$py" "$src/bench/bench_torch.py" --srcdir "$src" --model "$model" \
	--seconds "$secs" --out "$torch_out"

echo "== core"
# OPENBLAS_NUM_THREADS is left unset so bench_core can choose each count itself.
unset OPENBLAS_NUM_THREADS || true
# BENCH_INT8=1 adds the int8 column (the F32 model quantised at load).
int8=
[ "${BENCH_INT8:-1}" = 1 ] && int8=--int8
"$build/bench/bench_core" "$model" --f16 "$model16" $int8 --torch "$torch_out" \
	--threads "$threads" --seconds "$secs"

echo "== decoding controls (issue 14), against plain greedy / beam 5 in the same run"
"$build/bench/bench_options" "$src" "${BENCH_OPTION_ROUNDS:-15}"
