#!/usr/bin/env bash
# The standard document benchmarks for one model, on a GPU host, then our figure next to each published one
# (vlm_pipelines/benchmarks.py holds the references, their sources and tolerances).
#
#   bench/reproduce.sh MODEL [--backend hf|vllm] [--tasks docvqa_val,...] [--limit N] [--dir DIR]...
#                            [--model-param KEY=VALUE]... [--stand-in] [--out DIR]
#
# MODEL is a registry name with published figures: qwen2-vl-2b, qwen2.5-vl-3b, qwen2.5-vl-7b. With
# --backend vllm the model id MODEL-vllm answers (model-vllm). Each task reads the copy of its data that
# `vlmbench benchmarks` finds (the hub cache, $LMUData, each --dir), else its registry dataset.path.
# --stand-in: the tiny random Qwen2.5-VL answers instead of MODEL's weights (hf: the tiny-qwen2.5-vl entry;
# vllm: MODEL-vllm with model_path set to the tiny checkpoint), to prove the path where the weights are
# not; the output says so on its first line and above the table.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '5,6p' "$0" | sed 's/^# *//' >&2; exit 2; }
[[ $# -ge 1 && $1 != -* ]] || usage
model=$1
shift
backend=hf
tasks=docvqa_val,infovqa_val,chartqa_test,ocrbench,textvqa_val
limit=
stand_in=0
out=
dirs=()
params=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --backend) backend=${2:?}; shift 2 ;;
    --tasks) tasks=${2:?}; shift 2 ;;
    --limit) limit=${2:?}; shift 2 ;;
    --dir) dirs+=(--dir "${2:?}"); shift 2 ;;
    --model-param) params+=(--model-param "${2:?}"); shift 2 ;;
    --stand-in) stand_in=1; shift ;;
    --out) out=${2:?}; shift 2 ;;
    *) echo "reproduce: unknown option $1" >&2; usage ;;
    esac
done
[[ $backend == hf || $backend == vllm ]] || { echo "reproduce: --backend is hf or vllm" >&2; exit 2; }

# VLMBENCH and PYTHON may name other commands (a venv's own); the default is this checkout through uv.
read -r -a vlmbench <<<"${VLMBENCH:-uv run --frozen vlmbench}"
read -r -a python <<<"${PYTHON:-uv run --frozen python}"

reference_model=${model%-vllm}
run_model=$reference_model
[[ $backend == vllm ]] && run_model=$reference_model-vllm
note=
if ((stand_in)); then
    if [[ $backend == hf ]]; then
        run_model=tiny-qwen2.5-vl
    else
        tiny=$("${python[@]}" -c 'from model_hf.tiny_qwen import ensure_tiny_qwen; print(ensure_tiny_qwen())')
        params+=(--model-param "model_path=$tiny")
    fi
    note="the tiny random Qwen2.5-VL ($run_model${tiny:+ with model_path=$tiny}) answered, not $reference_model's weights: these figures prove the path, not the model"
    echo "reproduce: STAND-IN: $note"
fi
for param in "${params[@]}"; do
    [[ $param == model_path=* ]] && echo "reproduce: weights from $param"
done

out=${out:-$(mktemp -d -t vlmbench-reproduce.XXXXXX)}
results=()
status=0
IFS=, read -r -a task_list <<<"$tasks"
for task in "${task_list[@]}"; do
    data=()
    if path=$("${python[@]}" -m vlm_pipelines.benchmarks path "$task" "${dirs[@]}"); then
        data=(--set "dataset.path=$path")
        echo "reproduce: $task reads $path"
    else
        echo "reproduce: $task: no copy found here; reading its registry dataset.path (vlmbench benchmarks says how to get one)"
    fi
    command=("${vlmbench[@]}" run --model "$run_model" --task "$task" "${params[@]}" "${data[@]}" --output "$out/$task")
    [[ -n $limit ]] && command+=(--limit "$limit")
    echo "reproduce: ${command[*]}"
    if "${command[@]}"; then
        results+=(--results "$out/$task/results.json")
    else
        status=1
        echo "reproduce: $task failed; its row says 'no result'" >&2
    fi
done

echo
echo "Our figures against the published ones ($reference_model, backend $backend${limit:+, first $limit samples of each benchmark}):"
echo
"${python[@]}" -m vlm_pipelines.benchmarks compare --reference-model "$reference_model" --backend "$backend" \
    --tasks "$tasks" "${results[@]}" ${note:+--stand-in "$note"}
exit $status
