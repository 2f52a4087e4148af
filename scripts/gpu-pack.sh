#!/usr/bin/env bash
# Packs what a GPU machine without a Rust toolchain or network needs into DIR (default .gpu):
# the GPU build of geobatch (CUDA, and wgpu so that the same binaries can be tried on a machine
# without a GPU through Mesa's lavapipe), the two test binaries `scripts/gpu-smoke.sh
# --prebuilt DIR` and `scripts/gpu-ab.sh --prebuilt DIR` run (stripped and xz-compressed: the
# binaries are over 100 MB), and, when the full QM9 has been fetched, a random subset of it
# (QM9_SUBSET molecules, default 20000, seed 0) small enough to travel: with the binaries (about
# 47 MB) and the repository, within the 64 MiB the device tool carries (the pack's size is
# printed). `scripts/gpu-study.sh DIR OUT` uses them too.
# Builds in target/gpu (the GPU feature set is a separate build of burn).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.gpu}"
mkdir -p "$dir"
args=(--release --features geobatch-cli/cuda,geobatch-cli/wgpu,geobatch-nn/cuda,geobatch-nn/wgpu
      -p geobatch-cli -p geobatch-nn --target-dir target/gpu)
cargo test "${args[@]}" --no-run
# the executables of the nn library tests and of the cli integration tests
json=$(cargo test "${args[@]}" --no-run --message-format=json 2>/dev/null)
exe() {
  jq -r --arg name "$1" --arg kind "$2" \
    'select(.reason == "compiler-artifact" and .target.name == $name and .target.kind[0] == $kind
            and .executable != null) | .executable' <<<"$json" | tail -n 1
}
install -m 755 target/gpu/release/geobatch "$dir/geobatch"
install -m 755 "$(exe geobatch_nn lib)" "$dir/nn-tests"
install -m 755 "$(exe cli test)" "$dir/cli-tests"
strip "$dir/geobatch" "$dir/nn-tests" "$dir/cli-tests"
xz -9 -T0 -f "$dir/geobatch" "$dir/nn-tests" "$dir/cli-tests"
# the subset is cut by a Python with NumPy and pyarrow (PYTHON, default python3)
py=${PYTHON:-python3}
if [[ -f data/qm9/qm9.parquet ]] && ! "$py" -c "import numpy, pyarrow" 2>/dev/null; then
  echo "no QM9 subset packed: $py lacks numpy or pyarrow (set PYTHON to one that has both)" >&2
elif [[ -f data/qm9/qm9.parquet ]]; then
  "$py" - "$dir" "${QM9_SUBSET:-20000}" <<'PY'
import sys
import numpy as np
import pyarrow.parquet as pq
out, n = sys.argv[1], int(sys.argv[2])
f = pq.ParquetFile("data/qm9/qm9.parquet")
t = f.read()
rows = np.sort(np.random.default_rng(0).choice(t.num_rows, size=min(n, t.num_rows), replace=False))
# geobatch's tags (geobatch.schema, .source, .units) are the file's key-value metadata
tags = {k: v for k, v in f.metadata.metadata.items() if k != b"ARROW:schema"}
pq.write_table(t.take(rows).replace_schema_metadata(tags), f"{out}/qm9.parquet")
print(f"{out}/qm9.parquet: {len(rows)} of {t.num_rows} molecules (random, seed 0)")
PY
fi
ls -la "$dir"
echo "pack: $(du -cb "$dir"/* | tail -n 1 | cut -f1) bytes (the device tool carries at most 64 MiB)"
