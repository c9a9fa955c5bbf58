#!/usr/bin/env bash
# Writes the benchmark models with the kernel's GGUF writer (random weights, seed 1234):
# TinyLlama-1.1B and SmolLM-135M shapes in Q4_0, Q8_0 and Q4_K_M. Output: $MODELS/<shape>-<mix>.gguf
set -euo pipefail
TOOL=${TOOL:-/work/main/build-kernel/tests/kernel/kernel_bench_tool}
MODELS=${MODELS:-/work/bench-models}
mkdir -p "$MODELS"
for shape in smollm tinyllama; do
  for mix in Q4_0 Q8_0 Q4_K_M; do
    out="$MODELS/$shape-$mix.gguf"
    [ -s "$out" ] && continue
    echo "writing $out"
    "$TOOL" make-model "$out.tmp" --shape "$shape" --mix "$mix" && mv "$out.tmp" "$out"
  done
done
ls -la "$MODELS"
