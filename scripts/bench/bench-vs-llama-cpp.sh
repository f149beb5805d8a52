#!/usr/bin/env bash
# Frugal next to llama.cpp on the same machine, the same GGUF files and the same thread counts, back to back:
# `frugal bench` (prefill P tokens, then G decoded tokens; median of R runs) and llama.cpp's
# `llama-bench -p P -n G -t THREADS -r 5` (its mean of 5). Prints markdown table rows; raw output goes to $OUT_DIR.
#
#   MODELS="/tmp/models/tinyllama-1.1b-Q4_0.gguf ..." PROMPT=512 GEN=128 THREADS=1,2 REPETITIONS=5 bash scripts/bench/bench-vs-llama-cpp.sh
#
# Missing models named SHAPE-TYPE.gguf are synthesized first (frugal synth, LLaMA SentencePiece vocabulary from
# ../shared/vocab). llama.cpp is built outside the tree (docs/PERFORMANCE.md); LLAMA_BENCH points at llama-bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA_BENCH=${LLAMA_BENCH:-/tmp/llama/build/bin/llama-bench}
MODEL_DIR=${MODEL_DIR:-/tmp/models}
MODELS=${MODELS:-"$MODEL_DIR/tinyllama-1.1b-Q4_0.gguf $MODEL_DIR/tinyllama-1.1b-Q8_0.gguf"}
PROMPT=${PROMPT:-512} GEN=${GEN:-128} THREADS=${THREADS:-1,2} REPETITIONS=${REPETITIONS:-5}
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
echo "| model | threads | test | llama.cpp t/s (mean of 5) | Frugal t/s (median, min-max of $REPETITIONS) | Frugal / llama.cpp | Frugal weights read (roofline) |"
echo "| --- | ---: | --- | ---: | ---: | ---: | --- |"
for m in $MODELS; do
  name=$(basename "$m" .gguf)
  "$F" bench --model "$m" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" --threads "$THREADS" --repetitions "$REPETITIONS" --json \
    2>/dev/null > "$OUT_DIR/$name.frugal.json"
  "$LLAMA_BENCH" -m "$m" -p "$PROMPT" -n "$GEN" -t "$THREADS" -r 5 -o json 2>/dev/null > "$OUT_DIR/$name.llama.json"
  python3 - "$OUT_DIR/$name.frugal.json" "$OUT_DIR/$name.llama.json" "$name" <<'PY'
import json, sys
frugal, llama, name = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
bandwidth = {b["threads"]: b["bytes_per_second"] for b in frugal["bandwidth"]}
for row in frugal["rows"]:
    t, prefill = row["threads"], row["test"] == "prefill"
    n_prompt, n_gen = (row["tokens"], 0) if prefill else (0, row["tokens"])
    ref = next(r["avg_ts"] for r in llama if r["n_threads"] == t and r["n_prompt"] == n_prompt and r["n_gen"] == n_gen)
    s = row["tokens_per_second"]
    test = f"pp{n_prompt}" if prefill else f"tg{n_gen}"
    weights = "-" if prefill else f"{row['weight_bytes_per_second'] / 1e9:.2f} GB/s ({row['roofline_efficiency']:.1%} of {bandwidth[t] / 1e9:.1f} GB/s)"
    print(f"| {name} | {t} | {test} | {ref:.2f} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}) | {s['median'] / ref:.2f} | {weights} |")
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
