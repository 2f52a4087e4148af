#!/usr/bin/env bash
# Issue 82's measurement of the disk-backed store at scale (docs/datasets.md, "Data beyond
# memory"), on synthetic periodic crystals (12 nearest neighbours, formation energy):
#
#   1. `geobatch data store` writes a SMALL and a GRAPHS-structure store under a LIMIT memory
#      cgroup: wall time, the process's peak resident memory, the store's size;
#   2. `geobatch batches` plans and collates STEPS batches of the large store's training split
#      under the limit (the planning time comes from the run's own plan_ns);
#   3. `geobatch run` trains SchNet for STEPS steps on it under the limit (prefetch mode);
#   4. step time read in place (`memory = "disk"`, under the limit) against the same store
#      copied into memory (`memory = "ram"`, no limit), PAIRS paired runs of PAIR_STEPS steps
#      (disk, ram, disk, ...) with a warm page cache, then PAIRS with the page cache dropped
#      before each run.
#
# Needs root (a cgroup v1 or v2 memory controller, /proc/sys/vm/drop_caches) and a release build.
# Writes under WORK (about GRAPHS x 2.5 KB); removes the stores at the end unless KEEP=1
# (SKIP_WRITE=1 measures a kept store again).
#
#   GRAPHS=3400000 LIMIT=2G scripts/store-scale.sh            # about 8 GiB of store
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/geobatch}
GRAPHS=${GRAPHS:-3400000}
SMALL=${SMALL:-200000}
LIMIT=${LIMIT:-2G}
STEPS=${STEPS:-1000}
PAIRS=${PAIRS:-3}
PAIR_STEPS=${PAIR_STEPS:-300}
WORK=${WORK:-/tmp/geobatch-store-scale}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

# the memory cgroup (named after this script) and limited NAME CMD...
. scripts/limited.sh

source_config() {
    cat >"$WORK/source.toml" <<EOF
[experiment]
name = "store-scale-source"
seed = 42
[dataset]
kind = "synthetic"
family = "crystals"
graphs = $1
split = { train = 0.98, validation = 0.01, test = 0.01 }
[batcher]
kind = "dynamic"
batch_size = 32
EOF
}

train_config() { # NAME MEMORY
    cat >"$WORK/$1.toml" <<EOF
[experiment]
name = "$1"
seed = 42
[dataset]
kind = "store"
path = "$WORK/store"
memory = "$2"
[batcher]
kind = "dynamic"
batch_size = 32
[model]
kind = "schnet"
[training]
steps = $STEPS
eval_every = 0
eval_splits = []
mode = "prefetch"
[batches]
steps = $STEPS
[[sinks]]
kind = "parquet"
EOF
}

echo "== 1. writing the stores (limit $LIMIT)"
# SKIP_WRITE=1: the store of an earlier run (KEEP=1) measured again
[ "${SKIP_WRITE:-0}" = 1 ] && SIZES="" || SIZES="$SMALL $GRAPHS"
for n in $SIZES; do
    rm -rf "$WORK/store"
    source_config "$n"
    limited "write-$n" "$BIN" data store "$WORK/source.toml" --out "$WORK/store"
    grep '^wrote' "$WORK/write-$n.log"
done
du -sh "$WORK/store"

echo "== 2. the batching study of the training split (limit $LIMIT)"
train_config study disk
(cd "$WORK" && limited study "$BIN" batches study.toml --set 'sinks=[]')
grep -iE 'plan|batch|graphs' "$WORK/study.log" | head -8

echo "== 3. SchNet, $STEPS steps, read in place (limit $LIMIT)"
train_config disk disk
train_config ram ram
rm -rf "$WORK/results"
(cd "$WORK" && limited train-disk "$BIN" run disk.toml)
grep -E 'training:|time per step|loss' "$WORK/train-disk.log"

# step PAIR runs: the median step time (batching + update) of each, disk then ram
pair() { # LABEL DROP
    for i in $(seq 1 "$PAIRS"); do
        for m in disk ram; do
            [ "$2" = cold ] && sync && echo 3 >/proc/sys/vm/drop_caches
            rm -rf "$WORK/results"
            if [ "$m" = disk ]; then
                (cd "$WORK" && limited "$1-$m-$i" "$BIN" run disk.toml --set "training.steps=$PAIR_STEPS") >/dev/null
            else
                (cd "$WORK" && /usr/bin/time -f "%e s, peak RSS %M KiB" -o "$WORK/$1-$m-$i.time" \
                    "$BIN" run ram.toml --set "training.steps=$PAIR_STEPS" >"$WORK/$1-$m-$i.log" 2>&1)
            fi
            echo "$1 $m $i: $(grep 'time per step' "$WORK/$1-$m-$i.log" | sed 's/ *time per step *//') ($(cat "$WORK/$1-$m-$i.time"))"
        done
    done
}
echo "== 4. paired step times, disk (limit $LIMIT) against ram (no limit)"
pair warm warm
pair cold cold

if [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$WORK/store" "$WORK/results"
fi
rmdir "$CG" 2>/dev/null || true
