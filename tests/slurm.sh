#!/usr/bin/env bash
# ctest `slurm`: on a real one-node Slurm (tools/slurm-local, started here and stopped on any exit)
#  1. a 2-stage study with 2 seeds through `engine study --launcher slurm`: every run complete, one
#     metrics row per epoch, the same winners and metrics as the same study run locally;
#  2. `srun -n 2 engine run`: the DDP run's metrics equal `engine run --nproc 2`'s;
#  3. a cancelled array task: the study does not go on, and resubmitting trains only what is missing.
# Exit 77 (skipped) where Slurm cannot be started: not root and no passwordless sudo.
# Usage: tests/slurm.sh ENGINE_BINARY
set -euo pipefail
engine=$(realpath "$1")
src=$(cd "$(dirname "$0")/.." && pwd)
data=$(realpath "$src/../shared/tiny-imagenet-10")
work=$(mktemp -d /tmp/engine-slurm.XXXXXX)
export SLURM_LOCAL_DIR=$work/slurm SLURM_LOCAL_PORT=$((17000 + RANDOM % 4000))
export SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf
cleanup() {
  "$src/tools/slurm-local" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$src/tools/slurm-local" start || exit $?
cd "$work"

fail() {
  echo "FAILED: $*" >&2
  for f in runs/slurm/*.out runs/*/study-job.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  exit 1
}
# Metrics without the timing columns (seconds, img_per_s).
metrics() { cut -d, -f1-6,9- "$1"; }
# Waits until no job of ours is pending or running (at most $1 seconds).
wait_idle() {
  for _ in $(seq $(($1 * 2))); do
    [ -z "$(squeue -h -o %i)" ] && return 0
    sleep 0.5
  done
  squeue >&2
  fail "jobs still queued after $1 s"
}

# The study: stage W (width 4 or 8), then stage A (relu or gelu) on W's winner, tested.
mkdir -p study
cat >study/base.toml <<'EOF'
name = "base"
[input]
shape = [3, 32, 32]
[vars]
width = 8
act = "relu"
[data]
val_fraction = 0.2
[train]
epochs = 2
batch_size = 64
lr = 0.01
precision = "fp32"
memory_format = "contiguous"
[[layers]]
op = "conv2d"
out = "$width"
kernel = 3
stride = 2
padding = 1
[[layers]]
op = "batchnorm2d"
[[layers]]
op = "$act"
[[layers]]
op = "adaptive_avgpool2d"
[[layers]]
op = "flatten"
[[layers]]
op = "linear"
out = "$classes"
EOF
printf 'extends = "base.toml"\nname = "w-4"\n[vars]\nwidth = 4\n' >study/w-4.toml
printf 'extends = "base.toml"\nname = "w-8"\n[vars]\nwidth = 8\n' >study/w-8.toml
# Both extend w-4; --pin sets them to whichever stage W measures as the winner.
printf 'extends = "w-4.toml"\nname = "a-relu"\n[vars]\nact = "relu"\n' >study/a-relu.toml
printf 'extends = "w-4.toml"\nname = "a-gelu"\n[vars]\nact = "gelu"\n' >study/a-gelu.toml
cat >study/study.toml <<'EOF'
title = "slurm test"
seeds = [1, 2]
[[stages]]
name = "W"
graphs = ["w-4.toml", "w-8.toml"]
[[stages]]
name = "A"
extends = "winner"
graphs = ["a-relu.toml", "a-gelu.toml"]
final = true
EOF
cp -r study local-study

# A relative run directory is refused with the absolute one to give.
if "$engine" study study/study.toml --launcher slurm --data "$data" >refused.log 2>&1; then fail "relative --runs accepted"; fi
grep -q -- "--runs $work/runs" refused.log || fail "no hint in: $(cat refused.log)"

"$engine" study study/study.toml --launcher slurm --runs "$work/runs" --data "$data" --dry-run >dry.log
grep -q '#SBATCH --array=0-3' dry.log || fail "dry run: no array of 4 runs: $(cat dry.log)"
[ -z "$(squeue -h -o %i)" ] || fail "--dry-run submitted a job"

# One thread per run on both sides (-c 1 under Slurm, OMP_NUM_THREADS=1 here), so the runs match.
start=$(date +%s.%N)
"$engine" study study/study.toml --launcher slurm --runs "$work/runs" --data "$data" --pin --sbatch-args "-c 1" \
  >submit.log 2>&1 || fail "submit: $(cat submit.log)"
grep -q "runs submitted as Slurm array job" submit.log || fail "nothing submitted: $(cat submit.log)"
# A second submission while the first is queued would train the same runs twice.
if "$engine" study study/study.toml --launcher slurm --runs "$work/runs" --data "$data" >twice.log 2>&1; then
  fail "submitted twice"
fi
grep -q "this study is already submitted" twice.log || fail "second submission: $(cat twice.log)"
wait_idle 600
slurm_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
[ -f runs/report.md ] || fail "no report after the jobs ended"
# 4 runs of stage W, 2 or 4 of stage A (a file equal to W's winner is reused, not trained again).
runs=$(ls -d runs/*/metrics.csv | wc -l)
[ "$runs" -ge 6 ] || fail "$runs run directories with metrics"

start=$(date +%s.%N)
OMP_NUM_THREADS=1 "$engine" study local-study/study.toml --runs "$work/local-runs" --data "$data" --pin >local.log 2>&1 ||
  fail "local study: $(cat local.log)"
local_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
verdicts() { grep -h "goes on with" "$@" | sort -u; }
[ -n "$(verdicts local.log)" ] || fail "local study decided nothing"
[ "$(verdicts local.log)" = "$(verdicts runs/slurm/*.out)" ] ||
  fail "verdicts differ: local $(verdicts local.log) / slurm $(verdicts runs/slurm/*.out)"
for m in runs/*/metrics.csv; do
  r=$(basename "$(dirname "$m")")
  [ "$(wc -l <"$m")" -eq 3 ] || fail "$m: $(($(wc -l <"$m") - 1)) rows for 2 epochs"
  [ "$(metrics "$m")" = "$(metrics "local-runs/$r/metrics.csv")" ] || fail "$r: metrics differ from the local run's"
done
echo "slurm study: ${slurm_s} s; the same study run locally: ${local_s} s ($(nproc) cores)"

# DDP: 2 ranks started by srun against 2 started by --nproc, one epoch.
run_args=(run study/base.toml --data "$data" --set train.epochs=1 --set train.threads=1)
srun -n 2 -c 1 "$engine" "${run_args[@]}" --run-dir "$work/ddp-srun" >srun.log 2>&1 || fail "srun: $(cat srun.log)"
"$engine" "${run_args[@]}" --nproc 2 --run-dir "$work/ddp-local" >nproc.log 2>&1 || fail "--nproc: $(cat nproc.log)"
grep -q "on 2 ranks" ddp-srun/train.log || fail "srun did not train on 2 ranks: $(cat ddp-srun/train.log)"
[ "$(wc -l <ddp-srun/metrics.csv)" -eq 2 ] || fail "srun: not one metrics row"
[ "$(metrics ddp-srun/metrics.csv)" = "$(metrics ddp-local/metrics.csv)" ] || fail "srun's metrics differ from --nproc's"
echo "srun -n 2: the same metrics as --nproc 2"

# A cancelled array task: the study does not go on; resubmitting trains only the missing run.
mkdir -p fault
cp study/base.toml fault/
printf 'title = "fault"\nseeds = [1, 2]\n[[stages]]\nname = "F"\ngraphs = ["base.toml"]\nfinal = true\n' >fault/study.toml
fault_args=(study fault/study.toml --launcher slurm --runs "$work/fault-runs" --data "$data" --sbatch-args "-c 1")
"$engine" "${fault_args[@]}" >fault1.log 2>&1 || fail "fault submit: $(cat fault1.log)"
array=$(sed -n 's/.*submitted as Slurm array job \([0-9]*\).*/\1/p' fault1.log)
for _ in $(seq 120); do
  [ -f fault-runs/base-s2/study-job.log ] && break  # the task has started the run
  sleep 0.5
done
scancel "${array}_1"
wait_idle 300
[ ! -f fault-runs/report.md ] || fail "the study went on after a cancelled run"
[ -f fault-runs/base-s1/metrics.csv ] || fail "the run beside the cancelled one did not finish"
"$engine" "${fault_args[@]}" >fault2.log 2>&1 || fail "fault resubmit: $(cat fault2.log)"
grep -q "base, seed 1: already complete" fault2.log || fail "resubmission: $(cat fault2.log)"
grep -q "base, seed 2: not complete after an earlier submission" fault2.log || fail "resubmission: $(cat fault2.log)"
grep -q -- "1 run submitted" fault2.log || fail "resubmission: $(cat fault2.log)"
wait_idle 300
[ -f fault-runs/report.md ] || fail "no report after the resubmission"
echo "a cancelled array task stops the study; resubmitting trains only the missing run"
