#!/usr/bin/env bash
# Side by side, same machine, same files, back to back: llama.cpp's `llama-bench` tg128 (5 repetitions, its mean)
# against the median of 5 `frugal run` generations of 128 greedy tokens.
# llama.cpp is built outside the tree (see docs/PERFORMANCE.md); LLAMA_BENCH points at its llama-bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA_BENCH=${LLAMA_BENCH:-/tmp/llama/build/bin/llama-bench}
dotnet build src/Frugal.Cli -c Release -v q --nologo >/dev/null
F=src/Frugal.Cli/bin/Release/net10.0/frugal
for m in ${MODELS:-stories260K synth-llama-spm-Q4_0 synth-llama-spm-Q4_K_M}; do
  for t in 1 2; do
    ll=$("$LLAMA_BENCH" -m ../shared/models/$m.gguf -t $t -p 0 -n 128 -r 5 -o csv 2>/dev/null | tail -1 | awk -F, '{gsub(/"/,"",$0); print $(NF-1)}')
    fr=$(for r in 1 2 3 4 5; do $F run --model ../shared/models/$m.gguf --prompt "Once upon a time" --temperature 0 --n-predict 128 --threads $t --json 2>/dev/null | python3 -c "import json,sys;print(json.load(sys.stdin)['timings']['generation_tokens_per_second'])"; done | sort -g | sed -n 3p)
    python3 -c "print(f'$m threads=$t  llama.cpp tg128 {float(\"$ll\"):.1f} t/s  frugal {float(\"$fr\"):.1f} t/s  ratio {float(\"$fr\")/float(\"$ll\"):.2f}')"
  done
done
