#!/usr/bin/env bash
# Side-by-side benchmarks: freehold vs @langchain/langgraph, @openai/agents and the Vercel ai SDK.
# Installs the pinned peers (npm ci), then runs every workload for every system, interleaved, and
# prints a table of medians (min–max) with ratios against freehold. Knobs: see run.mjs (REPS,
# FANOUT, LOOP_RUNS_FH, LOOP_RUNS_PEER, FREEHOLD, OUT, ONLY, TIMEOUT_S).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
: "${FREEHOLD:=$here/../../../build/release/apps/freehold/freehold}"
[ -x "$FREEHOLD" ] || { echo "no freehold binary at $FREEHOLD (build it: cmake --preset release && cmake --build --preset release --target freehold)" >&2; exit 2; }
npm ci --no-audit --no-fund --loglevel=error >&2
export FREEHOLD
echo "node $(node --version); peers: $(node -e "const l=require('./package-lock.json').packages;console.log(['@langchain/langgraph','@langchain/openai','@langchain/core','@openai/agents','openai','ai','@ai-sdk/openai'].map(p=>p+'@'+l['node_modules/'+p].version).join(' '))")" >&2
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec node run.mjs
