#!/usr/bin/env bash
# What #10 must show, as a person would do it: a random-weights run, then `models import` of a
# full-size DINOv2-small saved with save_pretrained (random values, so it counts as real weights),
# then the same `inspector run`: every part is scored again and the database holds both sets, each
# with its fingerprint. Then a DINOv2 folder imported as clip-vit-b-16: refused, models list unchanged.
#
#   bash tests/scripts/real_weights_rescore.sh [IMAGES_FOLDER]   (default: 6 magnetic-tile images)
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
INSPECTOR=.venv/bin/inspector
WORK=$(mktemp -d /tmp/inspector-rescore.XXXXXX)
export INSPECTOR_DATA_DIR=$WORK/data HF_HUB_OFFLINE=1
SRC=${1:-../shared/datasets/magnetic_tile/magnetic_tile/test/blowhole}
step() { printf '\n== %s\n' "$*"; }

step "parts and a recipe (AnomalyDINO, dinov2-small, 1 reference) in $WORK"
mkdir -p "$WORK/parts"
if [ -d "$SRC" ]; then
    find "$SRC" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' \) | sort | head -6 | xargs -I{} cp {} "$WORK/parts/"
else
    $PY -c "from tests.helpers import write_parts; from pathlib import Path; write_parts(Path('$WORK/parts'), 6)"
fi
ls "$WORK/parts" | head -3; echo "... $(ls "$WORK/parts" | wc -l) parts"
REF=$(ls "$WORK/parts" | head -1)
$INSPECTOR recipe new "$WORK/recipe.json" --name tiles --object tile --detector anomalydino \
    --model dinov2-small --references "$WORK/parts/$REF"

step "1. inspector run --random-weights"
$INSPECTOR run --recipe "$WORK/recipe.json" --source "$WORK/parts" --db "$WORK/inspector.db" --random-weights -q
echo "rc=$?"

step "2. a full-size DINOv2-small saved with save_pretrained (random values), imported"
$PY - "$WORK/dinov2-small" <<'PYEOF'
import sys
from inspector._torch import import_torch
from inspector.backbones.loading import hub_architecture
from inspector.core.registry import get_spec
torch = import_torch()
from transformers import Dinov2Config, Dinov2Model
torch.manual_seed(1234)
Dinov2Model(Dinov2Config(**hub_architecture(get_spec("dinov2-small")))).save_pretrained(sys.argv[1])
PYEOF
$INSPECTOR models import "$WORK/dinov2-small" --model dinov2-small; echo "rc=$?"

step "3. the same inspector run (real weights now)"
$INSPECTOR run --recipe "$WORK/recipe.json" --source "$WORK/parts" --db "$WORK/inspector.db" -q
echo "rc=$?"

step "4. the database: both sets, each with its fingerprint"
$PY - "$WORK/inspector.db" <<'PYEOF'
import sys
from collections import Counter
from inspector.store import open_store
with open_store(sys.argv[1]) as store:
    rows = store.query()
for (fp, rw, dev, dt), n in sorted(Counter((r.short_fingerprint, r.random_weights, r.model_device, r.model_dtype) for r in rows).items()):
    print(f"  fingerprint {fp:14s} random_weights={rw!s:5s} {dev}/{dt}: {n} inspections")
print(f"  {len(rows)} inspections of {len({r.content_hash for r in rows})} distinct parts, "
      f"{len({r.recipe_version_id for r in rows})} recipe version")
PYEOF

step "5. a DINOv2 folder imported as clip-vit-b-16"
$INSPECTOR models list --json > "$WORK/before.json"
$INSPECTOR models import "$WORK/dinov2-small" --model clip-vit-b-16; echo "rc=$?"
$INSPECTOR models list --json > "$WORK/after.json"
cmp -s "$WORK/before.json" "$WORK/after.json" && echo "models list unchanged" || echo "models list CHANGED"
$INSPECTOR models list | grep -E 'clip-vit-b-16 |dinov2-small'
rm -rf "$WORK"
