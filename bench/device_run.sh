#!/usr/bin/env bash
# Issue 17's GPU table in one command on the `device` tool's machine (one H200 or H100).
#
# Here, once:   python bench/device_stage.py          (fills the git-ignored .device/)
# Then:         device run, carry [".device"], timeout_s 590, command:
#               bash bench/device_run.sh
#
# Phases run in order of value and each writes its log under $OUT as it goes, so a run cut
# short still returns what finished; a phase starts only while BUDGET seconds (default 540)
# are not spent. Files back (at most 8): summary.txt, env.txt, tests.log, encode.log, grid.log
# (grid and predict), train.log. Set PHASES to run a subset, e.g. PHASES="encode grid";
# NO_INSTALL=1 PY=python skips the wheels (a smoke run of the script's own logic off the machine).
set -u
OUT=${OUT:-/tmp/device-out}
BUDGET=${BUDGET:-540}
PHASES=${PHASES:-"tests encode grid predict train"}
PY=${PY:-python3}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
start=$SECONDS

if [ -z "${NO_INSTALL:-}" ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .device/whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD:$PWD/bench PYTHONUNBUFFERED=1 WORKBENCH_DATA=$PWD/.device/data \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# the carried transformers needs versions of regex, tokenizers, ... that the image may lack
$PY -c "import transformers" 2>/dev/null || { rm -rf /tmp/site/transformers*;
    echo "carried transformers does not import here: the image's is used" >> "$OUT/summary.txt"; }
MODEL=/tmp/minilm
$PY bench/device_stage.py --widen .device/minilm "$MODEL" || exit 1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    $PY -c "import torch, transformers, sentence_transformers as st, datasets
print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())
print('transformers', transformers.__version__, 'sentence-transformers', st.__version__,
      'datasets', datasets.__version__)"
    nproc
} > "$OUT/env.txt" 2>&1

phase() {  # phase NAME SECONDS COMMAND...: run if chosen and within the budget, log, note rc
    local name=$1 limit=$2 log=$3
    shift 3
    case " $PHASES " in *" $name "*) ;; *) return ;; esac
    local left=$((BUDGET - (SECONDS - start)))
    if ((left < 20)); then
        echo "$name: skipped, $left s of the budget left" >> "$OUT/summary.txt"
        return
    fi
    ((limit > left)) && limit=$left
    local t0=$SECONDS
    echo "### $name: $*" >> "$OUT/$log"
    timeout "$limit" "$@" >> "$OUT/$log" 2>&1
    echo "$name: rc $? in $((SECONDS - t0)) s: $*" >> "$OUT/summary.txt"
}

# 1. the CUDA-only tests: captured graphs equal the eager CUDA encode (fp32 within 1e-5)
phase tests 90 tests.log $PY -m pytest -q -rs -p no:cacheprovider \
    tests/fast/test_cuda_graphs.py tests/fast/test_inference.py
# 2. encode, all 17,256 STS-B sentences: eager and graphed workbench against ST, one process
phase encode 120 encode.log $PY bench/encode_vs_st.py --device cuda --model "$MODEL" \
    --texts all --batch-size 64 --repeats 3
phase encode 120 encode.log $PY bench/encode_vs_st.py --device cuda --model "$MODEL" \
    --texts all --batch-size 256 --repeats 3
# 3. the 6 x 5 grid against ST's per-cell way (graphs on: the grid encodes through encode)
phase grid 60 grid.log env WORKBENCH_CUDA_GRAPHS=1 $PY bench/grid_vs_st.py --device cuda \
    --model "$MODEL" --bf16 --latency
# 4. the reranker's predict against ST's (1,379 STS-B test pairs)
phase predict 45 grid.log $PY bench/predict_vs_st.py --device cuda --model "$MODEL" --repeats 3
# 5. training, one epoch each, bf16 (and the BCE reranker in fp32, ours only: bf16 vs fp32)
for experiment in m2d adaptive bce; do
    phase train 110 train.log $PY bench/train_vs_st.py --device cuda --model "$MODEL" \
        --experiment $experiment --roofline --seeds 42 43
done
phase train 40 train.log $PY bench/train_vs_st.py --device cuda --model "$MODEL" \
    --experiment bce --precision fp32 --skip-st --seeds 42 43
echo "total $((SECONDS - start)) s" >> "$OUT/summary.txt"
