#!/usr/bin/env bash
# Frugal next to llama.cpp on the same machine, the same GGUF files and the same thread counts, back to back:
# `frugal bench` (prefill of P tokens; decode of G tokens from an empty context; batched decode of B sequences;
# median of R runs) and llama.cpp's `llama-bench -p P -n G -t THREADS -r 5` (its mean of 5) for prefill and
# single-stream decode, and `llama-batched-bench` (G tokens for each of B parallel sequences after a PP_BATCHED-token
# prompt; its S_TG aggregate) for batched decode — our batched row then uses --depth PP_BATCHED to match.
# Prints markdown table rows; raw output goes to $OUT_DIR.
#
#   MODELS="/tmp/models/tinyllama-1.1b-Q4_0.gguf ..." PROMPT=512 GEN=128 THREADS=1,2 BATCH=1,8 REPETITIONS=5 bash scripts/bench/bench-vs-llama-cpp.sh
#
# Missing models named SHAPE-TYPE.gguf are synthesized first (frugal synth, LLaMA SentencePiece vocabulary from
# ../shared/vocab). llama.cpp is built outside the tree (docs/PERFORMANCE.md); LLAMA_BENCH points at llama-bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA_BENCH=${LLAMA_BENCH:-/tmp/llama/build/bin/llama-bench}
LLAMA_BATCHED_BENCH=${LLAMA_BATCHED_BENCH:-$(dirname "$LLAMA_BENCH")/llama-batched-bench}
MODEL_DIR=${MODEL_DIR:-/tmp/models}
MODELS=${MODELS:-"$MODEL_DIR/tinyllama-1.1b-Q4_0.gguf $MODEL_DIR/tinyllama-1.1b-Q8_0.gguf"}
PROMPT=${PROMPT:-512} GEN=${GEN:-128} THREADS=${THREADS:-1,2} REPETITIONS=${REPETITIONS:-5} BATCH=${BATCH:-1,8}
PP_BATCHED=${PP_BATCHED:-16}   # prompt tokens per sequence before the batched decode (llama-batched-bench needs one)
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

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| model | threads | test | llama.cpp t/s | Frugal t/s (median, min-max of $REPETITIONS) | Frugal / llama.cpp | Frugal weights read (roofline) |"
echo "| --- | ---: | --- | ---: | ---: | ---: | --- |"
for m in $MODELS; do
  name=$(basename "$m" .gguf)
  "$F" bench --model "$m" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" --threads "$THREADS" --repetitions "$REPETITIONS" --json \
    2>/dev/null > "$OUT_DIR/$name.frugal.json"
  "$LLAMA_BENCH" -m "$m" -p "$PROMPT" -n "$GEN" -t "$THREADS" -r 5 -o json 2>/dev/null > "$OUT_DIR/$name.llama.json"
  batches=$(tr ',' '\n' <<<"$BATCH" | awk '$1 > 1' | paste -sd, -)
  if [ -n "$batches" ]; then
    "$F" bench --model "$m" --prompt-tokens 0 --gen-tokens "$GEN" --depth "$PP_BATCHED" --batch "$batches" --threads "$THREADS" \
      --repetitions "$REPETITIONS" --json 2>/dev/null > "$OUT_DIR/$name.frugal-batched.json"
    for t in ${THREADS//,/ }; do
      "$LLAMA_BATCHED_BENCH" -m "$m" -c $(( (PP_BATCHED + GEN) * ${batches##*,} + 64 )) -b 2048 -ub 512 -npp "$PP_BATCHED" -ntg "$GEN" \
        -npl "$batches" -t "$t" -tb "$t" 2>/dev/null > "$OUT_DIR/$name.llama-batched-t$t.txt"
    done
  fi
  python3 - "$OUT_DIR" "$name" <<'PY'
import json, os, re, sys
out, name = sys.argv[1], sys.argv[2]
frugal, llama = json.load(open(f"{out}/{name}.frugal.json")), json.load(open(f"{out}/{name}.llama.json"))
bandwidth = {b["threads"]: b["bytes_per_second"] for b in frugal["bandwidth"]}
def weights(row, t):
    return f"{row['weight_bytes_per_second'] / 1e9:.2f} GB/s ({row['roofline_efficiency']:.1%} of {bandwidth[t] / 1e9:.1f} GB/s)"
for row in frugal["rows"]:
    t, prefill = row["threads"], row["test"] == "prefill"
    n_prompt, n_gen = (row["tokens"], 0) if prefill else (0, row["tokens"])
    ref = next(r["avg_ts"] for r in llama if r["n_threads"] == t and r["n_prompt"] == n_prompt and r["n_gen"] == n_gen)
    s = row["tokens_per_second"]
    test = f"pp{n_prompt}" if prefill else f"tg{n_gen}"
    print(f"| {name} | {t} | {test} (llama-bench, mean of 5) | {ref:.2f} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}) | {s['median'] / ref:.2f} | {'-' if prefill else weights(row, t)} |")
batched = f"{out}/{name}.frugal-batched.json"
if os.path.exists(batched):
    report = json.load(open(batched))
    bandwidth.update({b["threads"]: b["bytes_per_second"] for b in report["bandwidth"]})
    for row in report["rows"]:
        t, b = row["threads"], row["batch_size"]
        # llama-batched-bench's table: |    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |
        ref = None
        for line in open(f"{out}/{name}.llama-batched-t{t}.txt"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 10 and re.fullmatch(r"\d+", cells[0]) and int(cells[2]) == b:
                ref = float(cells[7])
        s = row["tokens_per_second"]
        label = f"tg{row['tokens']} ×{b} after {row['context_start']} (llama-batched-bench S_TG)"
        ratio = f"{s['median'] / ref:.2f}" if ref else "-"
        print(f"| {name} | {t} | {label} | {ref if ref else 'n/a'} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}) | {ratio} | {weights(row, t)} |")
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
