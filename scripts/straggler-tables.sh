#!/usr/bin/env bash
# The straggler tables of docs/distributed.md: every batcher's plan dealt to W ranks against
# torch's DistributedSampler and fairchem's max-atoms sampler, on full QM9, the crystal sets of
# ../shared/data/crystals and mlearn (all six elements), for W = 1 to 1,024.
#
#   geobatch data fetch qm9 && geobatch data fetch mlearn    # once
#   scripts/straggler-tables.sh [EXTRA ARGS, e.g. --drop-last] > tables.md
#
# Plans only (no batch is collated, no model runs): about a minute on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
gb=${GEOBATCH:-target/release/geobatch}
ranks=${RANKS:-1,8,64,512,1024}
shared=${SHARED:-../shared/data/crystals}
study() {
  echo "### $1"
  echo
  shift
  "$gb" batches "$@" --world-size "$ranks" "${extra[@]}"
  echo
}
extra=("$@")
study "QM9 (bs 32)" configs/examples/qm9-pack.toml
for set in perov5 carbon24; do
  study "$set (bs 32)" "configs/examples/$set-dynamic.toml" --set "dataset.path=\"$shared/$set\""
done
study "mlearn, six elements (bs 16)" configs/examples/mlearn-schnet-forces.toml \
  --set 'dataset.elements=["Cu","Ge","Li","Mo","Ni","Si"]'
