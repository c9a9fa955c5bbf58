#!/usr/bin/env bash
# Gateway overhead (issue 8): the same OpenAI-compatible mock upstream (tests/bench/peers/mock-server.mjs,
# zero latency) called directly and through `freehold serve`'s /v1/chat/completions, with wrk,
# interleaved REPS times. Prints one JSON line per run and the medians.
#   FREEHOLD=build/release/apps/freehold/freehold tests/bench/daemon/gateway.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${FREEHOLD:=$here/../../../build/release/apps/freehold/freehold}"
: "${REPS:=3}" "${SECS:=10}" "${CONNS:=8}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
node "$here/../peers/mock-server.mjs" 18181 > "$work/mock.log" &
upstream="http://127.0.0.1:18181/s/0/0/0/v1"
echo "{\"providers\": {\"openai\": {\"base_url\": \"$upstream\", \"api_key\": \"k\"}}}" > "$work/config.json"
FREEHOLD_HOME="$work/data" "$FREEHOLD" serve --listen 127.0.0.1:18182 --data-dir "$work/data" --config "$work/config.json" \
  > "$work/serve.log" 2>&1 &
for _ in $(seq 100); do [ -s "$work/data/token" ] && grep -q listening "$work/mock.log" && break; sleep 0.1; done
token="$(cat "$work/data/token")"
for r in $(seq "$REPS"); do
  d=$(MODEL=gpt-4o wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$here/post.lua" "$upstream/chat/completions" | tail -n 1)
  g=$(TOKEN="$token" MODEL=openai/gpt-4o wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$here/post.lua" \
      http://127.0.0.1:18182/v1/chat/completions | tail -n 1)
  echo "{\"rep\": $r, \"direct\": $d, \"gateway\": $g}"
done | tee "$work/runs.jsonl"
python3 - "$work/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
for k in ("p50_ms", "p99_ms", "rps"):
    d = statistics.median(r["direct"][k] for r in runs); g = statistics.median(r["gateway"][k] for r in runs)
    print(f"{k}: direct {d:.3f}  gateway {g:.3f}  gateway/direct {g / d:.2f}")
PY
