#!/bin/sh
# test_wmat on the baseline kernels (S2S_KERNELS=generic): the path a CPU
# without AVX2/FMA/F16C takes, which this machine would otherwise never run.
# Criterion speaks TAP (as tests/tap-wrap.sh has it do for the others).
S2S_KERNELS=generic exec "${S2S_BUILDDIR:-.}/tests/core/test_wmat" --tap=- --jobs=1
