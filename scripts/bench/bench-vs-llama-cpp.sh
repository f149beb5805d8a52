#!/usr/bin/env bash
# Frugal next to llama.cpp on the same machine, the same GGUF files and the same thread counts, back to back:
# `frugal bench` (prefill of P tokens; decode of G tokens from an empty context; batched decode of B sequences;
# median of R runs) and llama.cpp's `llama-bench -p P -n G -t THREADS -r 5` (its mean of 5) for prefill and
# single-stream decode, and `llama-batched-bench` (G tokens for each of B parallel sequences after a PP_BATCHED-token
# prompt; its S_TG aggregate) for batched decode — our batched row then uses --depth PP_BATCHED to match.
# With LONG=N, also single-stream decode of G tokens after N tokens of context (frugal bench --depth N) next to
# llama-batched-bench -npp N -npl 1 (llama-bench of this build has no depth option): attention at long context.
# The machine is a shared VM whose speed drifts by 10-20 % over minutes, so the two tools alternate in ROUNDS
# rounds (Frugal, then llama.cpp, then again) and each cell is the median over the rounds; the ratio is taken
# between those medians, and the per-round ratios are listed beside it.
# Prints markdown table rows; raw output goes to $OUT_DIR.
#
#   MODELS="/tmp/models/tinyllama-1.1b-Q4_0.gguf ..." PROMPT=512 GEN=128 THREADS=1,2 BATCH=1,8 REPETITIONS=3 ROUNDS=3 bash scripts/bench/bench-vs-llama-cpp.sh
#
# Missing models named SHAPE-TYPE.gguf are synthesized first (frugal synth, LLaMA SentencePiece vocabulary from
# ../shared/vocab). llama.cpp is built outside the tree (docs/PERFORMANCE.md); LLAMA_BENCH points at llama-bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA_BENCH=${LLAMA_BENCH:-/tmp/llama/build/bin/llama-bench}
LLAMA_BATCHED_BENCH=${LLAMA_BATCHED_BENCH:-$(dirname "$LLAMA_BENCH")/llama-batched-bench}
MODEL_DIR=${MODEL_DIR:-/tmp/models}
MODELS=${MODELS:-"$MODEL_DIR/tinyllama-1.1b-Q4_0.gguf $MODEL_DIR/tinyllama-1.1b-Q8_0.gguf"}
PROMPT=${PROMPT:-512} GEN=${GEN:-128} THREADS=${THREADS:-1,2} REPETITIONS=${REPETITIONS:-3} BATCH=${BATCH:-1,8} ROUNDS=${ROUNDS:-3}
PP_BATCHED=${PP_BATCHED:-16}   # prompt tokens per sequence before the batched decode (llama-batched-bench needs one)
LONG=${LONG:-}                 # context before a long-context single-stream decode (empty: not measured)
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/frugal-bench.XXXXXX)}

dotnet build src/Frugal.Cli -c Release -v q --nologo >/dev/null
F=src/Frugal.Cli/bin/Release/net10.0/frugal
mkdir -p "$OUT_DIR"
for m in $MODELS; do
  if [ ! -f "$m" ]; then  # tinyllama-1.1b-Q4_0.gguf -> --shape tinyllama-1.1b --type Q4_0
    base=$(basename "$m" .gguf)
    mkdir -p "$(dirname "$m")"
    "$F" synth --shape "${base%-*}" --type "${base##*-}" --vocab ../shared/vocab/ggml-vocab-llama-spm.gguf -o "$m"
  fi
done

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds"
echo "| model | threads | test | llama.cpp t/s (median of rounds) | Frugal t/s (median of rounds; min-max of all runs) | Frugal / llama.cpp (per round) | Frugal weights read (roofline) |"
echo "| --- | ---: | --- | ---: | ---: | ---: | --- |"
for m in $MODELS; do
  name=$(basename "$m" .gguf)
  batches=$(tr ',' '\n' <<<"$BATCH" | awk '$1 > 1' | paste -sd, -)
  for round in $(seq 1 "$ROUNDS"); do
    "$F" bench --model "$m" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" --threads "$THREADS" --repetitions "$REPETITIONS" --json \
      2>/dev/null > "$OUT_DIR/$name.frugal.r$round.json"
    "$LLAMA_BENCH" -m "$m" -p "$PROMPT" -n "$GEN" -t "$THREADS" -r 5 -o json 2>/dev/null > "$OUT_DIR/$name.llama.r$round.json"
    if [ -n "$batches" ]; then
      "$F" bench --model "$m" --prompt-tokens 0 --gen-tokens "$GEN" --depth "$PP_BATCHED" --batch "$batches" --threads "$THREADS" \
        --repetitions "$REPETITIONS" --json 2>/dev/null > "$OUT_DIR/$name.frugal-batched.r$round.json"
      for t in ${THREADS//,/ }; do
        "$LLAMA_BATCHED_BENCH" -m "$m" -c $(( (PP_BATCHED + GEN) * ${batches##*,} + 64 )) -b 2048 -ub 512 -npp "$PP_BATCHED" -ntg "$GEN" \
          -npl "$batches" -t "$t" -tb "$t" 2>/dev/null > "$OUT_DIR/$name.llama-batched-t$t.r$round.txt"
      done
    fi
    if [ -n "$LONG" ]; then
      "$F" bench --model "$m" --prompt-tokens 0 --gen-tokens "$GEN" --depth "$LONG" --batch 1 --threads "$THREADS" \
        --repetitions "$REPETITIONS" --json 2>/dev/null > "$OUT_DIR/$name.frugal-long.r$round.json"
      for t in ${THREADS//,/ }; do
        "$LLAMA_BATCHED_BENCH" -m "$m" -c $(( LONG + GEN + 64 )) -b 2048 -ub 512 -npp "$LONG" -ntg "$GEN" \
          -npl 1 -t "$t" -tb "$t" 2>/dev/null > "$OUT_DIR/$name.llama-long-t$t.r$round.txt"
      done
    fi
  done
  python3 - "$OUT_DIR" "$name" "$ROUNDS" <<'PY'
import json, os, re, statistics, sys
out, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
median = statistics.median

def cells(frugal_rows, llama_rates, label, weights):
    """One table row from each round's Frugal summary and llama.cpp rate."""
    ours = [r["tokens_per_second"] for r in frugal_rows]
    ratios = [o["median"] / l for o, l in zip(ours, llama_rates) if l]
    ref = median(llama_rates) if llama_rates else None
    s = median(o["median"] for o in ours)
    low, high = min(o["min"] for o in ours), max(o["max"] for o in ours)
    ratio = f"{s / ref:.2f} ({', '.join(f'{r:.2f}' for r in ratios)})" if ref else "-"
    return f"| {name} | {label} | {ref:.2f} | {s:.2f} ({low:.2f}-{high:.2f}) | {ratio} | {weights} |" if ref else \
           f"| {name} | {label} | n/a | {s:.2f} ({low:.2f}-{high:.2f}) | - | {weights} |"

def weights(rows, bandwidths, t):
    rates = [r["weight_bytes_per_second"] for r in rows]
    probe = median(b[t] for b in bandwidths)
    return f"{median(rates) / 1e9:.2f} GB/s ({median(rates) / probe:.1%} of {probe / 1e9:.1f} GB/s)"

frugal = [json.load(open(f"{out}/{name}.frugal.r{k}.json")) for k in range(1, rounds + 1)]
llama = [json.load(open(f"{out}/{name}.llama.r{k}.json")) for k in range(1, rounds + 1)]
bandwidth = [{b["threads"]: b["bytes_per_second"] for b in f["bandwidth"]} for f in frugal]
for i, row in enumerate(frugal[0]["rows"]):
    t, prefill = row["threads"], row["test"] == "prefill"
    n_prompt, n_gen = (row["tokens"], 0) if prefill else (0, row["tokens"])
    rows = [f["rows"][i] for f in frugal]
    refs = [next(r["avg_ts"] for r in l if r["n_threads"] == t and r["n_prompt"] == n_prompt and r["n_gen"] == n_gen) for l in llama]
    test = f"pp{n_prompt}" if prefill else f"tg{n_gen}"
    print(cells(rows, refs, f"{t} | {test} (llama-bench, mean of 5)", "-" if prefill else weights(rows, bandwidth, t)))
def against_batched_bench(frugal_kind, llama_kind):
    """Rows of frugal bench --depth runs next to llama-batched-bench's S_TG for the same B and thread count."""
    if not os.path.exists(f"{out}/{name}.{frugal_kind}.r1.json"):
        return
    reports = [json.load(open(f"{out}/{name}.{frugal_kind}.r{k}.json")) for k in range(1, rounds + 1)]
    bandwidth = [{b["threads"]: b["bytes_per_second"] for b in r["bandwidth"]} for r in reports]
    for i, row in enumerate(reports[0]["rows"]):
        t, b = row["threads"], row["batch_size"]
        rows = [r["rows"][i] for r in reports]
        refs = []
        for k in range(1, rounds + 1):
            # llama-batched-bench's table: |    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |
            for line in open(f"{out}/{name}.{llama_kind}-t{t}.r{k}.txt"):
                c = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(c) == 10 and re.fullmatch(r"\d+", c[0]) and int(c[2]) == b:
                    refs.append(float(c[7]))
        label = f"{t} | tg{row['tokens']} ×{b} after {row['context_start']} (llama-batched-bench S_TG)"
        print(cells(rows, refs, label, weights(rows, bandwidth, t)))

against_batched_bench("frugal-batched", "llama-batched")
against_batched_bench("frugal-long", "llama-long")
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
