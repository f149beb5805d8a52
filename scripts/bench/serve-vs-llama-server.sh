#!/usr/bin/env bash
# Frugal's server next to llama.cpp's llama-server on the same model, machine, threads and parallel slots,
# both loaded by `frugal bench-serve` with the same prompts. llama.cpp is built outside the tree
# (see docs/PERFORMANCE.md); point LLAMA_SERVER at its llama-server.
#   MODEL=/tmp/models/tinyllama-1.1b-Q4_0.gguf PARALLEL=8 THREADS=2 bash scripts/bench/serve-vs-llama-server.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

MODEL=${MODEL:?set MODEL to a GGUF file}
LLAMA_SERVER=${LLAMA_SERVER:-/tmp/llama/build/bin/llama-server}
PARALLEL=${PARALLEL:-8}
THREADS=${THREADS:-2}
CTX=${CTX:-512}                 # per sequence
CONCURRENCY=${CONCURRENCY:-1,$PARALLEL}
REQUESTS=${REQUESTS:-16}
PROMPT_TOKENS=${PROMPT_TOKENS:-64}
MAX_TOKENS=${MAX_TOKENS:-32}
OUT=${OUT:-/tmp/serve-bench}
mkdir -p "$OUT"

[ -x "$LLAMA_SERVER" ] || { echo "llama-server not found at $LLAMA_SERVER (set LLAMA_SERVER)" >&2; exit 1; }
dotnet build src/Frugal.Cli -c Release -v q --nologo >/dev/null
frugal=(dotnet src/Frugal.Cli/bin/Release/net10.0/frugal.dll)

wait_healthy() { # url pid
  for _ in $(seq 1 300); do
    curl -sf "$1/health" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "server exited before it was healthy" >&2; return 1; }
    sleep 0.5
  done
  echo "server at $1 never became healthy" >&2; return 1
}

bench() { # name url: one run, its JSON kept; the comparison below is printed from the two JSON files
  "${frugal[@]}" bench-serve --url "$2" --concurrency "$CONCURRENCY" --requests "$REQUESTS" \
    --prompt-tokens "$PROMPT_TOKENS" --max-tokens "$MAX_TOKENS" --json > "$OUT/$1.json"
}

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== llama-server ($PARALLEL slots, $THREADS threads)"
"$LLAMA_SERVER" -m "$MODEL" -np "$PARALLEL" -c $((CTX * PARALLEL)) -t "$THREADS" -tb "$THREADS" --port 18091 \
  > "$OUT/llama-server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_healthy http://127.0.0.1:18091 $pid
bench llama-server http://127.0.0.1:18091
kill $pid; wait $pid 2>/dev/null || true

echo "== frugal serve ($PARALLEL parallel, $THREADS threads)"
"${frugal[@]}" serve --model "$MODEL" --parallel "$PARALLEL" --ctx-size "$CTX" --threads "$THREADS" --port 18092 \
  > "$OUT/frugal.log" 2>&1 &
pid=$!
wait_healthy http://127.0.0.1:18092 $pid
bench frugal http://127.0.0.1:18092
kill $pid; wait $pid 2>/dev/null || true

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
a = json.load(open(f"{out}/llama-server.json")); b = json.load(open(f"{out}/frugal.json"))
def levels(r): return {l["concurrency"]: l for l in r["levels"]}
la, lb = levels(a), levels(b)
print("| concurrency | llama-server output tok/s | frugal output tok/s | frugal / llama-server | TTFT p50 / p99 ms llama-server | TTFT p50 / p99 ms frugal | inter-token p50 ms llama-server | inter-token p50 ms frugal |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for c in sorted(la):
    x, y = la[c], lb[c]
    t = lambda l: f"{l['time_to_first_token_ms']['p50']:.0f} / {l['time_to_first_token_ms']['p99']:.0f}"
    print(f"| {c} | {x['output_tokens_per_second']:.1f} | {y['output_tokens_per_second']:.1f} | "
          f"{y['output_tokens_per_second'] / x['output_tokens_per_second']:.2f} | {t(x)} | {t(y)} | "
          f"{x['inter_token_latency_ms']['p50']:.1f} | {y['inter_token_latency_ms']['p50']:.1f} |")
print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")
PY
