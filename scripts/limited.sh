# Sourced by the scale scripts (store-scale.sh, import-scale.sh): a memory cgroup of LIMIT
# bytes named after the script ($CG), and `limited NAME CMD...`. Needs root, WORK and LIMIT set.

# the memory cgroup every limited command runs in
if [ -d /sys/fs/cgroup/memory ]; then
    CG=/sys/fs/cgroup/memory/geobatch-$(basename "$0" .sh)
    mkdir -p "$CG"
    echo "$LIMIT" >"$CG/memory.limit_in_bytes"
    peak_file=memory.max_usage_in_bytes
    anon_key=total_rss
else
    CG=/sys/fs/cgroup/geobatch-$(basename "$0" .sh)
    mkdir -p "$CG"
    echo "$LIMIT" >"$CG/memory.max"
    peak_file=memory.peak
    anon_key=anon
fi

# limited NAME CMD...: CMD in the cgroup; its wall time and peak resident memory (GNU time: the
# mapped store's pages it touched included) in $WORK/NAME.time, its output in $WORK/NAME.log;
# the cgroup's peak anonymous memory (what the process allocated: no page cache, no mapped
# file), sampled every 0.1 s, in $WORK/NAME.anon
limited() {
    local name=$1
    shift
    [ "$peak_file" = memory.max_usage_in_bytes ] && echo 0 >"$CG/$peak_file"
    echo 0 >"$WORK/$name.anon"
    (
        peak=0
        while [ -e "$WORK/$name.anon" ]; do
            a=$(awk -v k="$anon_key" '$1 == k { print $2 }' "$CG/memory.stat")
            [ "${a:-0}" -gt "$peak" ] && peak=$a && echo "$peak" >"$WORK/$name.anon.tmp" &&
                mv "$WORK/$name.anon.tmp" "$WORK/$name.anon"
            sleep 0.1
        done
    ) &
    local sampler=$!
    bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec /usr/bin/time -f "%e s, peak RSS %M KiB" -o "$0" "$@"' \
        "$WORK/$name.time" "$CG" "$@" >"$WORK/$name.log" 2>&1 || echo "$name failed: $(tail -1 "$WORK/$name.log")"
    local anon
    anon=$(cat "$WORK/$name.anon")
    rm -f "$WORK/$name.anon"
    wait "$sampler" 2>/dev/null || true
    echo "$name: $(cat "$WORK/$name.time"), peak anonymous $((anon / 1048576)) MiB, cgroup peak $(($(cat "$CG/$peak_file") / 1048576)) MiB (page cache included)"
}

