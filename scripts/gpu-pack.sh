#!/usr/bin/env bash
# Packs what a GPU machine without a Rust toolchain or network needs into DIR (default .gpu):
# the GPU build of geobatch (CUDA, and wgpu so that the same binaries can be tried on a machine
# without a GPU through Mesa's lavapipe), the same build with burn's autotuning compiled in
# (geobatch-autotune: burn decides autotuning when it is built; AUTOTUNE=0 leaves it out), the
# two test binaries `scripts/gpu-smoke.sh --prebuilt DIR` and `scripts/gpu-ab.sh --prebuilt DIR`
# run (all stripped and xz-compressed: the binaries are over 100 MB), mlearn's silicon when mlearn
# has been fetched (the force step's data), and, when the full QM9 has been fetched (QM9, default
# data/qm9/qm9.parquet), a random subset of it (seed 0) of at most QM9_SUBSET molecules (default
# 20000), cut smaller where needed so that the pack and the repository fit the 64 MiB the device
# tool carries (the sizes are printed). `scripts/gpu-study.sh DIR OUT` uses them too.
# Builds in target/gpu and target/gpu-autotune (the GPU feature sets are separate builds of burn).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.gpu}"
mkdir -p "$dir"
rm -f "$dir"/*.xz "$dir/qm9.parquet" "$dir/mlearn.parquet"
# the binary, the nn library's tests and the cli's GPU test (crates/cli/tests/gpu.rs), no other
# test binary: each links the whole stack
args=(--release --features geobatch-cli/cuda,geobatch-cli/wgpu,geobatch-nn/cuda,geobatch-nn/wgpu
      -p geobatch-cli -p geobatch-nn --lib --test gpu --target-dir target/gpu)
cargo test "${args[@]}" --no-run
# the executables of the nn library tests and of the cli GPU test
json=$(cargo test "${args[@]}" --no-run --message-format=json 2>/dev/null)
exe() {
  jq -r --arg name "$1" --arg kind "$2" \
    'select(.reason == "compiler-artifact" and .target.name == $name and .target.kind[0] == $kind
            and .executable != null) | .executable' <<<"$json" | tail -n 1
}
install -m 755 target/gpu/release/geobatch "$dir/geobatch"
install -m 755 "$(exe geobatch_nn lib)" "$dir/nn-tests"
install -m 755 "$(exe gpu test)" "$dir/gpu-tests"
bins=("$dir/geobatch" "$dir/nn-tests" "$dir/gpu-tests")
if [[ ${AUTOTUNE:-1} == 1 ]]; then
  cargo build --release --features geobatch-cli/cuda,geobatch-cli/wgpu,geobatch-cli/autotune \
    -p geobatch-cli --target-dir target/gpu-autotune
  install -m 755 target/gpu-autotune/release/geobatch "$dir/geobatch-autotune"
  bins+=("$dir/geobatch-autotune")
fi
strip "${bins[@]}"
xz -9 -T0 -f "${bins[@]}"
# the structures of mlearn's silicon, which the force step trains on (the whole file is 5.4 MB)
py=${PYTHON:-python3}
if [[ -f data/mlearn/mlearn.parquet ]] && "$py" -c "import pyarrow" 2>/dev/null; then
  "$py" - data/mlearn/mlearn.parquet "$dir/mlearn.parquet" <<'PY'
import sys
import pyarrow.compute as pc
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
t = f.read()
tags = {k: v for k, v in f.metadata.metadata.items() if k != b"ARROW:schema"}
si = t.filter(pc.equal(t.column("element"), "Si"))
pq.write_table(si.replace_schema_metadata(tags), sys.argv[2])
print(f"{sys.argv[2]}: mlearn's {si.num_rows} silicon structures of {t.num_rows}")
PY
fi
# what the device tool carries besides the pack: the repository's files git does not ignore
# (a tracked file deleted in the work tree travels as nothing)
repo=$( (git ls-files -co --exclude-standard -z | xargs -0 -r stat -c %s 2>/dev/null || true) |
  awk '{ s += $1 } END { print s + 0 }')
room=$((64 * 1024 * 1024 - repo - $(du -cb "$dir"/* | tail -n 1 | cut -f1) - 512 * 1024))
# the subset is cut by a Python with NumPy and pyarrow (PYTHON, default python3)
qm9=${QM9:-data/qm9/qm9.parquet}
if [[ -f $qm9 ]] && ! "$py" -c "import numpy, pyarrow" 2>/dev/null; then
  echo "no QM9 subset packed: $py lacks numpy or pyarrow (set PYTHON to one that has both)" >&2
elif [[ -f $qm9 ]]; then
  "$py" - "$qm9" "$dir/qm9.parquet" "${QM9_SUBSET:-20000}" "$room" <<'PY'
import os
import sys
import numpy as np
import pyarrow.parquet as pq
src, out, n, room = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
f = pq.ParquetFile(src)
t = f.read()
# geobatch's tags (geobatch.schema, .source, .units) are the file's key-value metadata
tags = {k: v for k, v in f.metadata.metadata.items() if k != b"ARROW:schema"}
n = min(n, t.num_rows)
while True:
    rows = np.sort(np.random.default_rng(0).choice(t.num_rows, size=n, replace=False))
    pq.write_table(t.take(rows).replace_schema_metadata(tags), out)
    size = os.path.getsize(out)
    if size <= room or n < 1000:
        break
    n = int(n * room / size * 0.97)
print(f"{out}: {n} of {t.num_rows} molecules (random, seed 0), {size} bytes ({room} bytes of room)")
PY
fi
ls -la "$dir"
pack=$(du -cb "$dir"/* | tail -n 1 | cut -f1)
echo "pack: $pack bytes, repository: $repo bytes, together $((pack + repo)) of the 64 MiB ($((64 * 1024 * 1024)) bytes) the device tool carries"
((pack + repo <= 64 * 1024 * 1024)) || { echo "too large for the device tool" >&2; exit 1; }
