#!/usr/bin/env bash
# Measures every compression variant of one model (FFN pruning, layer removal, quantization) with frugal itself and
# writes a markdown table and an SVG chart of cost (file size) against quality (perplexity) into docs/.
#
#   scripts/compression-report.sh [MODEL] [TEXT]
#
# MODEL defaults to ../shared/models/stories260K.gguf and TEXT to the children's stories of the compression tests.
# The text is cut in two at a blank line: the first half calibrates pruning, the second half is scored, so the
# pruning never sees the text it is judged on. Environment: CTX (128), CHUNKS (all), THREADS (0 = all cores),
# QUANT_TYPES ("Q8_0 Q5_1 Q5_0 Q4_1 Q4_0"), N_PREDICT (256, tokens generated for the decode speed).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
model="${1:-$root/../shared/models/stories260K.gguf}"
text="${2:-$root/tests/Frugal.Compression.Tests/Data/stories.txt}"
ctx="${CTX:-128}"
threads="${THREADS:-0}"
n_predict="${N_PREDICT:-256}"
quant_types="${QUANT_TYPES:-Q8_0 Q5_1 Q5_0 Q4_1 Q4_0}"
name="$(basename "$model" .gguf)"
table="$root/docs/compression-$name.md"
chart="$root/docs/compression-$name.svg"

fail() { echo "compression-report: $*" >&2; exit 1; }
[[ -f "$model" ]] || fail "model not found: $model"
[[ -f "$text" ]] || fail "text not found: $text"

dotnet build "$root/src/Frugal.Cli" -c Release -v q --nologo >/dev/null || fail "building frugal failed"
frugal() { dotnet "$root/src/Frugal.Cli/bin/Release/net10.0/frugal.dll" "$@"; }
frugal quantize --help >/dev/null 2>&1 || fail "this frugal has no 'quantize' command: the quantization rows need it"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Split at the blank line nearest the middle of the text.
paragraphs=$(awk 'BEGIN { RS = "" } END { print NR }' "$text")
awk -v half=$((paragraphs / 2)) 'BEGIN { RS = ""; ORS = "\n\n" } NR <= half' "$text" > "$work/calibration.txt"
awk -v half=$((paragraphs / 2)) 'BEGIN { RS = ""; ORS = "\n\n" } NR > half' "$text" > "$work/evaluation.txt"

chunk_args=(); [[ -n "${CHUNKS:-}" ]] && chunk_args=(--chunks "$CHUNKS")
json_number() { grep -o "\"$1\":[-0-9.eE+]*" | head -1 | cut -d: -f2; }

# name|file rows, in table order
base_type=$(frugal inspect "$model" 2>/dev/null | grep -o 'F32\|F16\|BF16' | head -1 || true)
variants=("unpruned ${base_type:-original}|$model")
for ratio in 0.1 0.25 0.5; do
    out="$work/ffn-$ratio.gguf"
    frugal prune "$model" "$out" --ffn "$ratio" --text "$work/calibration.txt" --ctx "$ctx" -t "$threads" 2>/dev/null >/dev/null
    variants+=("FFN −$(awk -v r="$ratio" 'BEGIN { printf "%g", r * 100 }') % (importance)|$out")
done
frugal prune "$model" "$work/ffn-random.gguf" --ffn 0.1 --method random --seed 1 2>/dev/null >/dev/null
variants+=("FFN −10 % (random, seed 1)|$work/ffn-random.gguf")
for layers in 1 2; do
    out="$work/layers-$layers.gguf"
    frugal prune "$model" "$out" --layers "$layers" --text "$work/calibration.txt" --ctx "$ctx" -t "$threads" 2>/dev/null >/dev/null
    variants+=("$layers layer(s) removed|$out")
done
for type in $quant_types; do
    out="$work/$type.gguf"
    frugal quantize "$model" "$out" --type "$type" --pure -t "$threads" 2>/dev/null >/dev/null || fail "frugal quantize --type $type failed"
    variants+=("$type (--pure)|$out")
done

rows="$work/rows.tsv"
: > "$rows"
for variant in "${variants[@]}"; do
    label="${variant%%|*}"
    file="${variant#*|}"
    size=$(stat -c %s "$file")
    speed=$(frugal run -m "$file" -p "Once upon a time" -n "$n_predict" --temperature 0 --json -t "$threads" 2>/dev/null | json_number generation_tokens_per_second)
    report=$(frugal perplexity -m "$file" --base "$model" --text "$work/evaluation.txt" --ctx "$ctx" "${chunk_args[@]}" --json -t "$threads" 2>/dev/null)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$size" "$speed" \
        "$(json_number perplexity <<<"$report")" "$(json_number perplexity_error <<<"$report")" \
        "$(json_number kl_divergence <<<"$report")" "$(json_number kl_divergence_error <<<"$report")" \
        "$(json_number top1_agreement <<<"$report")" >> "$rows"
    echo "measured $label" >&2
done

{
    echo "| variant | size (KiB) | decode tok/s | perplexity | KL vs unpruned | top-1 agreement |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{ printf "| %s | %.1f | %.0f | %.3f ± %.3f | %.4f ± %.4f | %.1f %% |\n", $1, $2 / 1024, $3, $4, $5, $6, $7, 100 * $8 }' "$rows"
} > "$table"

# The chart: file size (x) against perplexity (y, logarithmic), one labelled dot per variant.
awk -F'\t' -v title="$name: file size vs perplexity ($(basename "$text"), ctx $ctx)" '
function x(v) { return left + (v - xmin) / (xmax - xmin) * width }
function y(v) { return top + height - (log(v) - log(ymin)) / (log(ymax) - log(ymin)) * height }
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
{ label[NR] = $1; size[NR] = $2 / 1024; ppl[NR] = $4; n = NR }
END {
    left = 70; top = 40; width = 560; height = 320
    xmin = 0; xmax = 0; ymin = ppl[1]; ymax = ppl[1]
    for (i = 1; i <= n; i++) { if (size[i] > xmax) xmax = size[i]; if (ppl[i] < ymin) ymin = ppl[i]; if (ppl[i] > ymax) ymax = ppl[i] }
    xmax *= 1.1; ymin /= 1.2; ymax *= 1.2
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", left + width + 180, top + height + 50
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
    printf "<text x=\"%d\" y=\"20\" font-size=\"14\">%s</text>\n", left, esc(title)
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", left, top + height, left + width, top + height
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", left, top, left, top + height
    for (t = 0; t <= 5; t++) {
        v = xmin + (xmax - xmin) * t / 5
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", x(v), top + height + 15, v
        w = exp(log(ymin) + (log(ymax) - log(ymin)) * t / 5)
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", left - 5, y(w) + 4, w
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, y(w), left + width, y(w)
    }
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">file size (KiB)</text>\n", left + width / 2, top + height + 35
    printf "<text x=\"15\" y=\"%d\" transform=\"rotate(-90 15 %d)\" text-anchor=\"middle\">perplexity (log scale)</text>\n", top + height / 2, top + height / 2
    for (i = 1; i <= n; i++) {
        colour = label[i] ~ /layer/ ? "#d62728" : label[i] ~ /FFN/ ? "#1f77b4" : label[i] ~ /unpruned/ ? "black" : "#2ca02c"
        printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x(size[i]), y(ppl[i]), colour
        printf "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s</text>\n", x(size[i]) + 6, y(ppl[i]) - 4, colour, esc(label[i])
    }
    printf "</svg>\n"
}' "$rows" > "$chart"

cat "$table"
echo "wrote $table and $chart" >&2
