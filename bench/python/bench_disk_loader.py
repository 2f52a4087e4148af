"""Planning a whole epoch of a disk-backed store's training split (time, and the plan's bytes),
then ``geobatch.torch.DataLoader`` over a disk-backed store read in place (``memory="disk"``)
against the same store read into memory (``memory="ram"``), issue 82: microseconds per batch
of the training split's first BATCHES batches (dynamic, bs 32), PAIRS paired passes (disk, ram,
disk, ...) with a warm page cache, then PAIRS with the page cache dropped before each pass
(root: /proc/sys/vm/drop_caches). Each pass builds its loader anew (the disk store opened anew);
the first pass of each kind warms its collator and is not counted.

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
PREFETCH = int(os.environ.get("PREFETCH", "0"))
#: STEP=schnet: each batch also trains PyG's SchNet one step (its edges the batch's own, image
#: shifts left out: a stand-in for a user's step, timed with the batch)
STEP = os.environ.get("STEP", "")


def schnet_step():
    """A training step of PyG's SchNet on a geobatch batch (torch and PyG needed)."""
    import torch
    from torch_geometric.nn.models import SchNet

    torch.manual_seed(0)
    edges = geobatch.torch.BatchEdges()
    model = SchNet(hidden_channels=64, num_filters=64, num_interactions=3, num_gaussians=50,
                   cutoff=10.0, interaction_graph=edges)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(b):
        edges.edge_index = b.edge_index
        pred = model(b.atomic_numbers.long(), b.pos, b.batch)
        loss = ((pred - b.targets) ** 2)[b.graph_mask].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def per_batch_us(store, step=None):
    loader = geobatch.torch.DataLoader(store, "dynamic", 32, seed=0, prefetch=PREFETCH)
    batches = iter(loader)  # the epoch planned here, not timed
    t, n = time.perf_counter(), 0
    for b in batches:
        if step is not None:
            step(b)
        n += 1
        if n == BATCHES:
            break
    return (time.perf_counter() - t) / n * 1e6


def rss_anon_mb():
    """This process's anonymous resident memory (not counting the mapped files' pages)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def planning(store):
    """Seconds to plan one epoch of every structure of ``store`` (dynamic, bs 32), and the plan's
    bytes."""
    planner = geobatch.Planner("dynamic", 32)
    t = time.perf_counter()
    plan = planner.plan_epoch(store.sizes, seed=0)
    seconds = time.perf_counter() - t
    nbytes = sum(a.nbytes for a in (plan.indices, plan.offsets, plan.real, plan.padded))
    return seconds, nbytes, len(plan)


def main(path):
    t = time.perf_counter()
    disk = geobatch.load_dataset(kind="store", path=path, memory="disk").splits["train"]
    print(f"opened in place: {time.perf_counter() - t:.2f} s, anonymous memory {rss_anon_mb():.0f} MB")
    seconds, nbytes, batches = planning(disk)
    n = len(disk)
    print(f"planning an epoch of {n} structures: {seconds:.2f} s ({seconds / n * 1e6:.2f} s per million), "
          f"{batches} batches, the plan {nbytes / 1e6:.1f} MB ({nbytes / n:.1f} bytes a structure); "
          f"anonymous memory {rss_anon_mb():.0f} MB")
    ram = geobatch.load_dataset(kind="store", path=path, memory="ram").splits["train"]
    del disk

    def store(m):
        # the disk store opened anew for each pass: a mapping the last pass used keeps its pages
        # in memory (drop_caches cannot drop them), and a cold pass would not be cold
        if m == "ram":
            return ram
        return geobatch.load_dataset(kind="store", path=path, memory="disk").splits["train"]

    print(f"{path}: train {n} structures; {BATCHES} batches a pass, prefetch {PREFETCH}; "
          f"load {os.getloadavg()[0]:.2f}")
    step = schnet_step() if STEP == "schnet" else None
    print(f"step: {STEP or 'none (the loader alone)'}")
    for m in ("disk", "ram"):
        per_batch_us(store(m), step)  # warm-up
    for cold in (False, True):
        runs = {"disk": [], "ram": []}
        for _ in range(PAIRS):
            for m in ("disk", "ram"):
                s = store(m)
                if cold:
                    drop_caches()
                runs[m].append(per_batch_us(s, step))
                del s
        d, r = statistics.median(runs["disk"]), statistics.median(runs["ram"])
        label = "cold" if cold else "warm"
        print(f"{label}: disk {d:.0f} us/batch {[round(x) for x in runs['disk']]}, ram {r:.0f} us/batch "
              f"{[round(x) for x in runs['ram']]}; disk/ram {d / r:.3f}")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
