#!/bin/sh
# Reproducible demo model (issue #5 item 6): CT phantoms → `nnseg train` (a small 3d_fullres network) →
# server/demo-model/Dataset900_Phantom/. Run from the repository root after `npm run build`:
#   sh server/demo-model/train-demo.sh            (DEMO_EPOCHS / DEMO_ITERS to change the length)
set -eu
WORK=${WORK:-$(mktemp -d)}
EPOCHS=${DEMO_EPOCHS:-40}
ITERS=${DEMO_ITERS:-25}
RAW="$WORK/raw/Dataset900_Phantom"
node server/dist/cli/main.js phantom dataset "$RAW" --cases 12 --shape 32,64,64 --spacing 5,4,4 --seed 0 --name Phantom
node server/dist/cli/main.js train -d "$RAW" -c 3d_fullres -f 0 \
  --preprocessed "$WORK/preprocessed" --results "$WORK/results" \
  --epochs "$EPOCHS" --iters "$ITERS" --val-iters 2 --save-every 10 \
  --base-features 4 --max-features 8 --max-stages 3 --patch-size 16,24,24 --batch-size 2 \
  --backend wasm --workers 1 --seed 0
OUT=${DEMO_OUT:-server/demo-model/Dataset900_Phantom}
rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$WORK/results/Dataset900_Phantom/nnUNetTrainer__nnUNetPlans__3d_fullres" "$OUT/"
# the resume state is not part of the model
rm -f "$OUT"/*/fold_*/nnseg_training_state.*
echo "demo model written to $OUT (work folder $WORK)"
