"""``geobatch.torch.DataLoader`` over a disk-backed store read in place (``memory="disk"``)
against the same store read into memory (``memory="ram"``), issue 82: microseconds per batch
of the training split's first BATCHES batches (dynamic, bs 32), PAIRS paired passes (disk, ram,
disk, ...) with a warm page cache, then PAIRS with the page cache dropped before each pass
(root: /proc/sys/vm/drop_caches). Each pass builds its loader anew; the first pass of each kind
warms its collator and is not counted.

    geobatch data store CONFIG --out STORE
    target/ddp-env/bin/python bench/python/bench_disk_loader.py STORE
"""

import os
import statistics
import sys
import time

import geobatch
import geobatch.torch

BATCHES = int(os.environ.get("BATCHES", "300"))
PAIRS = int(os.environ.get("PAIRS", "3"))


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def per_batch_us(store):
    loader = geobatch.torch.DataLoader(store, "dynamic", 32, seed=0)
    t, n = time.perf_counter(), 0
    for _ in loader:
        n += 1
        if n == BATCHES:
            break
    return (time.perf_counter() - t) / n * 1e6


def main(path):
    stores = {m: geobatch.load_dataset(kind="store", path=path, memory=m).splits["train"] for m in ("disk", "ram")}
    print(f"{path}: train {len(stores['disk'])} structures; {BATCHES} batches a pass; load {os.getloadavg()[0]:.2f}")
    for m in stores:
        per_batch_us(stores[m])  # warm-up
    for cold in (False, True):
        runs = {"disk": [], "ram": []}
        for _ in range(PAIRS):
            for m in ("disk", "ram"):
                if cold:
                    drop_caches()
                runs[m].append(per_batch_us(stores[m]))
        d, r = statistics.median(runs["disk"]), statistics.median(runs["ram"])
        label = "cold" if cold else "warm"
        print(f"{label}: disk {d:.0f} us/batch {[round(x) for x in runs['disk']]}, ram {r:.0f} us/batch "
              f"{[round(x) for x in runs['ram']]}; disk/ram {d / r:.3f}")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
