#!/usr/bin/env bash
# Retrain the CNN detectors' shipped weights on a lent GPU, all at once, in one call of at most ~9 min:
#   OUT=DIR bash benchmarks/train_on_gpu.sh
# Runs from the repository root on a machine whose python3 has torch (CUDA) and the project's other
# dependencies; simcam must already be in $SPOC_BENCH_CACHE (default .cache/device: carry it there,
# since colour-demosaicing may be missing); the synthetic images are generated if absent. Each
# trainer writes its weights and manifest to its own folder; bondi2017 and mislnet run two epoch
# counts each, one of which is later kept by validation accuracy (never by test accuracy);
# noiseprint and wang2020 train for a time budget (the manifest records the steps run). A CUDA smoke
# run, then the GPU throughput table, run too. Results: DIR/*.tgz and DIR/summary.txt.
set -u
export PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
export SPOC_BENCH_CACHE=${SPOC_BENCH_CACHE:-$PWD/.cache/device}
OUT=${OUT:?set OUT to the results folder}
DEVICE=${DEVICE:-cuda} LIMIT=${LIMIT:-420}  # a dry run elsewhere: DEVICE=cpu LIMIT=20
WORK=$(mktemp -d)
mkdir -p "$WORK/logs" "$WORK/weights"

# the package's layout without installing it (the image holds the dependencies, and no index is reachable)
STAGE=$(mktemp -d)
cp -r spoc_bench "$STAGE/"
for part in attacks detectors datasets; do ln -s "$PWD/$part" "$STAGE/spoc_bench/$part"; done
export PYTHONPATH=$STAGE  # and python3 -P: not the checkout's spoc_bench/, which lacks the plugins

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$WORK/logs/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" >> "$WORK/logs/gpu.txt"

# the synthetic images (generated, if not cached, before the trainers share them)
python3 -P -c "import spoc_bench; spoc_bench.build_dataset('simcam', generators=('transposed', 'nearest', \
    'bilinear', 'pixelshuffle')).prepare()" > "$WORK/logs/datasets.log" 2>&1

train() {  # train LABEL NAME OPTIONS...: one trainer, killed after $LIMIT s
    local label=$1 name=$2
    shift 2
    timeout "$LIMIT" python3 -P -m spoc_bench.cli train detector "$name" --device "$DEVICE" \
        -o "out=$WORK/weights/$label" "$@" > "$WORK/logs/$label.log" 2>&1
    echo "$label: exit $? after $SECONDS s" >> "$WORK/logs/exits.txt"
}

train noiseprint noiseprint -o threads=2 -o steps=40000 -o seconds=300 &
train wang2020 wang2020 -o threads=3 -o steps=40000 -o seconds=300 &
train bondi2017-e48-aug bondi2017 -o threads=2 -o epochs=48 -o augment=true &
train bondi2017-e72 bondi2017 -o threads=2 -o epochs=72 &
train mislnet-e60 mislnet -o threads=2 -o epochs=60 &
train mislnet-e120 mislnet -o threads=2 -o epochs=120 &
(timeout "$LIMIT" python3 -P -m spoc_bench.cli run --preset smoke --device "$DEVICE" --out "$WORK/smoke-cuda" --quiet \
    > "$WORK/logs/smoke-cuda.log" 2>&1; echo "smoke-cuda: exit $? after $SECONDS s" >> "$WORK/logs/exits.txt") &
wait

timeout 90 python3 benchmarks/throughput.py --device "$DEVICE" \
    --only jpeg-table,spectrum,wang2020,gragnaniello2021,bondi2017,mislnet,noiseprint:simcam,identity,spoc \
    > "$WORK/logs/throughput-cuda.log" 2>&1
echo "throughput: exit $? after $SECONDS s" >> "$WORK/logs/exits.txt"

mkdir -p "$OUT"
tar czf "$OUT/noiseprint.tgz" -C "$WORK/weights" noiseprint
tar czf "$OUT/wang2020.tgz" -C "$WORK/weights" wang2020
tar czf "$OUT/bondi2017.tgz" -C "$WORK/weights" bondi2017-e48-aug bondi2017-e72
tar czf "$OUT/mislnet.tgz" -C "$WORK/weights" mislnet-e60 mislnet-e120
tar czf "$OUT/logs.tgz" -C "$WORK" logs smoke-cuda
{ cat "$WORK/logs/gpu.txt" "$WORK/logs/exits.txt"; tail -n 3 "$WORK"/logs/*.log; } > "$OUT/summary.txt"
cat "$OUT/summary.txt"
