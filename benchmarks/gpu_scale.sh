#!/bin/bash
# The gpu preset (each world's own data, 4.4M parameters, batch 256, bf16, 10000 steps) on one
# world, in one 10-minute call on a lent GPU machine, then its task over the protocol's 200
# episodes. One world per call: on the H200 machine of 2026-12-04 collection ran at a CPU's rate
# (about 93 frames/s per worker; 674 frames/s for swimmer with 16 workers,
# benchmarks/results/gpu_scale/2026-12-04-h200*/), so every core collects the one world. The
# recipe's step is then timed on the GPU, and training gets the preset's steps, or fewer where
# they would not end by BUDGET_S - EVAL_RESERVE_S (train.steps then says how many); what each
# stage writes is copied into OUT as it ends, so a call cut short still returns it.
#     bash benchmarks/gpu_scale.sh OUT_DIR WORLD [debug]     WORLD: swimmer, cheetah or reacher
# On the device machine: . .gpu/env.sh && bash benchmarks/gpu_scale.sh $OUT swimmer
# `debug` runs the same chain with preset=debug and 4 episodes, to check it on a CPU first.
set -u
out=${1:?usage: gpu_scale.sh OUT_DIR WORLD [debug]}
n=${2:?usage: gpu_scale.sh OUT_DIR WORLD [debug]; WORLD: swimmer, cheetah or reacher}
mode=${3:-full}
work=${WORK:-/tmp/gpu_scale}
budget=${BUDGET_S:-560}  # seconds from the start by which everything has ended
eval_reserve=${EVAL_RESERVE_S:-150}  # seconds kept for the final diagnostics and the evaluation
mkdir -p "$out" "$work"
export WORLDMODEL_CACHE="$work/cache"
start=$(date +%s)
now() { echo $(($(date +%s) - start)); }
left() { echo $((budget - $(now))); }
case $n in
  swimmer) world=(env=dmc env.domain=swimmer env.task=swimmer6); actions=5
    task=(task=dmc-generic eval.domain=swimmer eval.dmc_task=swimmer6) ;;
  cheetah) world=(env=dmc env.domain=cheetah env.task=run); actions=6
    task=(task=dmc-generic eval.domain=cheetah eval.dmc_task=run) ;;
  reacher) world=(env=reacher); actions=2; task=(task=reacher-pose) ;;
  *) echo "error: unknown world '$n'; choose swimmer, cheetah or reacher" >&2; exit 2 ;;
esac
if [ "$mode" = debug ]; then
  size=(preset=debug); eps=4; workers=1; calib=2
else
  size=(preset=gpu); eps=200; workers=$(nproc); calib=40
fi
common=(progress=false "data.workers=$workers")
keep() {  # what has been written so far (no weights) into OUT
  cp "$work"/*.log "$work"/*.json "$out/" 2>/dev/null
  for d in "$work/train" "$work/eval"; do
    [ -d "$d" ] && find "$d" -maxdepth 1 -type f \( -name '*.json' -o -name '*.jsonl' \) \
      -exec sh -c 'cp "$1" "$2/$(basename "$(dirname "$1")")-$(basename "$1")"' _ {} "$out" \;
  done
  return 0
}

{ nvidia-smi -L; python -c "import torch; print(torch.__version__, torch.cuda.is_available())"
  echo "world: $n; $(nproc) cores"
  python -c "from mujoco.egl import GLContext; c = GLContext(64, 64); c.make_current()
from OpenGL import GL; print('renderer:', GL.glGetString(GL.GL_RENDERER).decode()); c.free()"
} > "$out/machine.txt" 2>&1

# 1. Data: the world's episodes, every core collecting.
timeout -s INT "$(($(left) - eval_reserve - 60))" python -m worldmodel.collect "${size[@]}" \
  "${world[@]}" "${common[@]}" > "$work/collect.log" 2>&1
echo "collected at $(now) s (rc $?)" >> "$out/machine.txt"; keep

# 2. The recipe's step, timed on the GPU.
python benchmarks/train_speed.py "${size[@]}" "${world[@]}" --steps "$calib" \
  --action-dim "$actions" --out "$work/speed.json" > "$work/speed.log" 2>&1
echo "timed at $(now) s" >> "$out/machine.txt"; keep

# 3. Train for the preset's steps, or for those that end by budget - eval_reserve (start-up and
# the diagnostics counted as a quarter more per step), then play the task.
steps=()
if [ "$mode" != debug ]; then
  read -r ms preset_steps < <(python -c "import json; r = json.load(open('$work/speed.json'))['results'][0]; print(r['step_ms_median'], r['preset_steps'])")
  s=$(python -c "print(min($preset_steps, max(250, int(($(left) - $eval_reserve - 20) / ($ms * 1.25e-3) / 250) * 250)))")
  steps=("train.steps=$s" "train.eval_every=$((s / 2))" "train.ckpt_every=$s")
fi
echo "training ${steps[*]:-preset steps} from $(now) s" >> "$out/machine.txt"
timeout -s INT "$(($(left) - eval_reserve + 40))" python -m worldmodel.train "${size[@]}" \
  "${world[@]}" "${common[@]}" "${steps[@]}" run_dir="$work/train" > "$work/train.log" 2>&1
echo "trained at $(now) s (rc $?)" >> "$out/machine.txt"; keep
timeout -s INT "$(left)" python -m agents.evaluate "${size[@]}" "${task[@]}" \
  checkpoint="$work/train" run_dir="$work/eval" eval.episodes="$eps" eval.parallel=50 \
  eval.videos=0 "eval.baselines=[]" progress=false > "$work/eval.log" 2>&1
echo "evaluated at $(now) s (rc $?)" >> "$out/machine.txt"; keep
echo "done after $(now) s" >> "$out/machine.txt"
grep -hv absl "$work/train.log" "$work/eval.log" | tail -8
cat "$out/machine.txt"
