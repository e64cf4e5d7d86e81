#!/bin/bash
# One lent GPU session (2026-12-04, one H200, 15 minutes of device time in all): the gpu preset's
# data and model (2000 episodes, 4.4M parameters, batch 256, bf16) on swimmer/swimmer6 and
# cheetah/run, the two worlds whose probe misses R² 0.9, and on reacher, the solved one, each
# with its world's own recipe, trained side by side on the one GPU. The preset's 24000 steps do
# not fit three runs into one 10-minute call, so the steps are sized on the machine: each
# recipe's step is timed with the three running at once (benchmarks/train_speed.py), and every
# run gets the steps that end by the same time, leaving room for the protocol's 200 episodes.
#     bash benchmarks/gpu_scale.sh OUT_DIR [debug]
# On the device machine: . .gpu/env.sh && bash benchmarks/gpu_scale.sh $OUT
# `debug` runs the same chain with preset=debug and 4 episodes, to check it on a CPU first.
set -u
out=${1:?usage: gpu_scale.sh OUT_DIR [debug]}
mode=${2:-full}
work=${WORK:-/tmp/gpu_scale}
budget=${BUDGET_S:-560}  # seconds from the start by which everything has ended
eval_reserve=${EVAL_RESERVE_S:-170}  # seconds kept for the final diagnostics and the evaluations
mkdir -p "$out" "$work"
export WORLDMODEL_CACHE="$work/cache"
start=$(date +%s)
now() { echo $(($(date +%s) - start)); }
left() { echo $((budget - $(now))); }
if [ "$mode" = debug ]; then
  size=(preset=debug); eps=4; workers=1; calib=2
else
  size=(preset=gpu); eps=200; workers=5; calib=40
fi
names=(swimmer cheetah reacher)
declare -A world=(
  [swimmer]="env=dmc env.domain=swimmer env.task=swimmer6"
  [cheetah]="env=dmc env.domain=cheetah env.task=run"
  [reacher]="env=reacher"
)
declare -A actions=([swimmer]=5 [cheetah]=6 [reacher]=2)
declare -A task=(
  [swimmer]="task=dmc-generic eval.domain=swimmer eval.dmc_task=swimmer6"
  [cheetah]="task=dmc-generic eval.domain=cheetah eval.dmc_task=run"
  [reacher]="task=reacher-pose"
)
common=(progress=false "data.workers=$workers")

{ nvidia-smi -L; python -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } \
  > "$out/machine.txt" 2>&1

# 1. Data: the three worlds' 2000 episodes, collected at once on the CPU cores.
for n in "${names[@]}"; do
  # shellcheck disable=SC2086
  python -m worldmodel.collect "${size[@]}" ${world[$n]} "${common[@]}" > "$work/collect-$n.log" 2>&1 &
done
wait
echo "collected at $(now) s" >> "$out/machine.txt"

# 2. Each recipe's step with the three timed at once on the GPU.
for n in "${names[@]}"; do
  # shellcheck disable=SC2086
  python benchmarks/train_speed.py "${size[@]}" ${world[$n]} --steps "$calib" \
    --action-dim "${actions[$n]}" --out "$work/speed-$n.json" > "$work/speed-$n.log" 2>&1 &
done
wait
echo "timed at $(now) s" >> "$out/machine.txt"

# 3. Train side by side, each for the steps that end by budget - eval_reserve (data loading and
# start-up counted as a quarter more per step), then play its task over the protocol's episodes.
# Copies what a run has written so far (no weights) into OUT, so a call cut short still returns it.
keep() {
  mkdir -p "$out/$1"
  cp "$work/train-$1.log" "$work/speed-$1.json" "$out/$1/" 2>/dev/null
  for d in "$work/$1" "$work/$1-eval"; do
    [ -d "$d" ] && find "$d" -maxdepth 1 -type f \( -name '*.json' -o -name '*.jsonl' -o -name '*.log' \) \
      -exec cp {} "$out/$1/" \;
  done
  cp "$work/eval-$1.log" "$out/$1/" 2>/dev/null
  return 0
}
job() {
  local n=$1 steps=() ms
  if [ "$mode" != debug ]; then
    ms=$(python -c "import json; print(json.load(open('$work/speed-$n.json'))['results'][0]['step_ms_median'])")
    local s
    s=$(python -c "print(max(250, int(($(left) - $eval_reserve - 20) / ($ms * 1.25e-3) / 250) * 250))")
    steps=("train.steps=$s" "train.eval_every=$((s / 2))" "train.ckpt_every=$s")
  fi
  echo "$n: ${steps[*]:-preset steps} from $(now) s" >> "$out/machine.txt"
  # shellcheck disable=SC2086
  timeout -s INT "$(($(left) - eval_reserve + 40))" python -m worldmodel.train "${size[@]}" \
    ${world[$n]} "${common[@]}" "${steps[@]}" run_dir="$work/$n" > "$work/train-$n.log" 2>&1
  echo "$n: trained at $(now) s (rc $?)" >> "$out/machine.txt"
  keep "$n"
  # shellcheck disable=SC2086
  timeout -s INT "$(left)" python -m agents.evaluate "${size[@]}" ${task[$n]} \
    checkpoint="$work/$n" run_dir="$work/$n-eval" eval.episodes="$eps" eval.parallel=50 \
    eval.videos=0 "eval.baselines=[]" progress=false > "$work/eval-$n.log" 2>&1
  echo "$n: evaluated at $(now) s (rc $?)" >> "$out/machine.txt"
  keep "$n"
}
for n in "${names[@]}"; do job "$n" & done
wait

echo "done after $(now) s" >> "$out/machine.txt"
for n in "${names[@]}"; do  # the headline numbers, also in the call's output
  for f in "$work/$n/probe.json" "$work/$n-eval/eval.json"; do
    [ -f "$f" ] && python -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[1], json.dumps(d)[:600])" "$f"
  done
done
tar czf "$out/results.tgz" -C "$work" --exclude=cache --exclude='*.pt' . 2>> "$out/machine.txt"
cat "$out/machine.txt"
