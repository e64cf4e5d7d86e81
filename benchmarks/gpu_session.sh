#!/bin/bash
# The runs of one lent GPU session (2026-11-30, one H200), kept so that its numbers can be
# reproduced. Each job trains a world's model with the cpu preset's recipe plus one lever,
# then plays the world's task over the protocol's 200 episodes; the jobs share the machine.
#     bash benchmarks/gpu_session.sh OUT_DIR [debug]
# On the device machine: . .gpu/env.sh && bash benchmarks/gpu_session.sh $OUT
# `debug` runs the same chain with preset=debug and 4 episodes, to check it on a CPU first.
set -u
out=${1:?usage: gpu_session.sh OUT_DIR [debug]}
mode=${2:-full}
work=${WORK:-/tmp/gpu_session}
budget=${BUDGET_S:-470}  # every job stops by this many seconds after the start
mkdir -p "$out" "$work"
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }
if [ "$mode" = debug ]; then
  size=(preset=debug); eps=4; workers=1
else
  size=(); eps=200; workers=4
fi
ev=(eval.episodes="$eps" eval.videos=0 "eval.baselines=[]")

swimmer=(env=dmc env.domain=swimmer env.task=swimmer6 data.marker_jitter=1 "data.workers=$workers")
point128=(env=point_mass env.image_size=128 data.marker_jitter=1 model.encoder=keypoints "data.workers=$workers")

job_swimmer() {  # issue 10: an untuned dm_control domain whose target is drawn per episode
  python -m worldmodel.collect "${size[@]}" "${swimmer[@]}" || return
  timeout "$(left)" python -m worldmodel.train "${size[@]}" "${swimmer[@]}" run_dir="$work/swimmer-jitter" &
  timeout "$(left)" python -m worldmodel.train "${size[@]}" "${swimmer[@]}" model.encoder=keypoints \
    run_dir="$work/swimmer-keypoints-jitter" &
  wait
  for run in swimmer-jitter swimmer-keypoints-jitter; do
    timeout "$(left)" python -m agents.evaluate "${size[@]}" task=dmc-generic eval.domain=swimmer \
      eval.dmc_task=swimmer6 checkpoint="$work/$run" run_dir="$work/$run-eval" "${ev[@]}" &
  done
  wait
}

job_point_mass() {  # issue 10: the mass 2-4 px wide at 128 px, keypoints on jittered data
  timeout "$(left)" python -m worldmodel.train "${size[@]}" "${point128[@]}" run_dir="$work/pm128-kp-jitter" || return
  timeout "$(left)" python -m agents.evaluate "${size[@]}" task=point_mass-goal \
    checkpoint="$work/pm128-kp-jitter" run_dir="$work/pm128-kp-jitter-eval" "${ev[@]}" &
  timeout "$(left)" python -m benchmarks.surprise --checkpoint "$work/pm128-kp-jitter" \
    --episodes "$eps" --faults push teleport --out "$work/surprise-pm128.json" &
  wait
}

nvidia-smi -L > "$out/machine.txt" 2>&1
python -c "import torch; print(torch.__version__, torch.cuda.is_available())" >> "$out/machine.txt" 2>&1
if [ "$mode" != debug ]; then  # the gpu preset's step time, alone on the machine (issue 10)
  timeout 60 python benchmarks/train_speed.py --out "$work/train_speed_cuda.json" > "$work/train_speed.log" 2>&1
fi
job_swimmer > "$work/swimmer.log" 2>&1 &
job_point_mass > "$work/point_mass.log" 2>&1 &
wait
echo "done after $(( $(date +%s) - start )) s" >> "$out/machine.txt"
tar czf "$out/results.tgz" -C "$work" --exclude='*.pt' --exclude='*.npz' . 2>> "$out/machine.txt"
for run in swimmer-jitter swimmer-keypoints-jitter pm128-kp-jitter; do
  [ -f "$work/$run/checkpoint.pt" ] && cp "$work/$run/checkpoint.pt" "$out/$run.pt"
done
ls -la "$out" >> "$out/machine.txt"
