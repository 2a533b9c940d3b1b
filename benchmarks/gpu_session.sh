#!/usr/bin/env bash
# Every GPU figure of benchmarks/RESULTS.md in one run on a CUDA machine (how the lent
# H100 was used): LightGCN speed vs PyG, text encoding vs sentence-transformers, and the
# Gowalla reproduction. Needs no network: the inputs come from a folder (default
# .devcarry) holding data/gowalla/, texts.json (benchmarks/encode.py's 20,000 texts)
# and minilm/ (all-MiniLM-L6-v2 with its weights as model_fp16.safetensors, which is
# expanded back to float32 here, so both encoders load the same fp32 weights).
#
#   OUT=runs/gpu GOWALLA_BUDGET_S=330 bash benchmarks/gpu_session.sh [.devcarry]
set -uo pipefail
START=$SECONDS
TOTAL=${TOTAL_S:-570}   # the whole run must end within this many seconds
CARRY=${1:-.devcarry}
OUT=${OUT:-runs/gpu}
BUDGET=${GOWALLA_BUDGET_S:-330}
SETTINGS=${GOWALLA_SETTINGS:-2048:1e-3,8192:4e-3}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=true
{
  date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python3 -c "import sys, torch, transformers, torch_geometric, sentence_transformers as st, scipy, pandas; print(sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__, 'pyg', torch_geometric.__version__, 'st', st.__version__, 'scipy', scipy.__version__, 'pandas', pandas.__version__)"
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

python3 benchmarks/expand_model.py "$CARRY/minilm" /tmp/minilm

echo "== LightGCN speed"
timeout 150 python3 benchmarks/lightgcn_speed.py --data-dir "$CARRY/data" --batch-size 2048 --epochs 4 \
  --pyg-batches 791 2>&1 | tee "$OUT/lightgcn_speed.log"
echo "== text encoding"
timeout 150 python3 benchmarks/encode.py --model /tmp/minilm --texts-file "$CARRY/texts.json" --batch-size 1024 \
  --repeats 3 2>&1 | tee "$OUT/encode.log"
LEFT=$((TOTAL - (SECONDS - START) - 110))   # ~110 s for loading, catching up and the test evaluation
[ "$LEFT" -lt "$BUDGET" ] && BUDGET=$LEFT
echo "== Gowalla reproduction (budget ${BUDGET} s, settings ${SETTINGS})"
timeout $((BUDGET + 200)) python3 benchmarks/gowalla.py --data-dir "$CARRY/data" --out /tmp/gowalla \
  --settings "$SETTINGS" --budget-s "$BUDGET" 2>&1 | tee "$OUT/gowalla.log"
for f in /tmp/gowalla/*.jsonl /tmp/gowalla/*.json; do echo "## $(basename "$f")"; cat "$f"; done > "$OUT/gowalla_runs.txt" 2>/dev/null
exit 0
