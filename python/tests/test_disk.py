"""A disk-backed store (``geobatch data store``) read from Python in place
(``load_dataset(kind="store", memory="disk")``): its atom and edge arrays are mapped from the
files, and it gives the same arrays, the same plans and the same batches through
``geobatch.torch.DataLoader`` as the same store read into memory (``memory="ram"``)."""

import pickle
import subprocess

import numpy as np
import pytest

import geobatch
from test_cli import binary

CONFIG = """[experiment]
name = "store"
seed = 4
[dataset]
kind = "synthetic"
family = "{family}"
graphs = 300
{extra}
[batcher]
kind = "dynamic"
batch_size = 8
"""

FAMILIES = {
    "molecules": "",
    "crystals": 'labels = "morse"\ngraph = { kind = "cutoff", radius = 4.0 }',
}


def write_store(tmp_path, family):
    config = tmp_path / f"{family}.toml"
    config.write_text(CONFIG.format(family=family, extra=FAMILIES[family]))
    out = tmp_path / family
    subprocess.run(
        [binary(), "data", "store", str(config), "--out", str(out), "--part", "64"],
        check=True,
        capture_output=True,
    )
    return out


def mapped(a):
    """Whether `a` is a view of a memory-mapped file."""
    while isinstance(a, np.ndarray) and not isinstance(a, np.memmap):
        a = a.base
    # an unpickled memmap keeps its class, without a mapping
    return isinstance(a, np.memmap) and a._mmap is not None


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_store_read_in_place_is_the_store_read_into_memory(tmp_path, family):
    out = write_store(tmp_path, family)
    disk = geobatch.load_dataset(kind="store", path=str(out))
    ram = geobatch.load_dataset(kind="store", path=str(out), memory="ram")
    assert disk.source.endswith('(memory = "disk")') and ram.source.endswith('(memory = "ram")')
    assert list(disk.species_classes) == list(ram.species_classes)
    assert disk.target_names == ram.target_names
    for split in ("train", "validation", "test"):
        d, r = disk.splits[split], ram.splits[split]
        assert disk.ids[split] == ram.ids[split]
        np.testing.assert_array_equal(d.sizes, r.sizes)
        assert set(d.nodes) == set(r.nodes) and set(d.edges) == set(r.edges)
        for kind in ("nodes", "edges", "graphs"):
            for k, a in getattr(r, kind).items():
                b = getattr(d, kind)[k]
                np.testing.assert_array_equal(b, a, err_msg=f"{split} {kind}[{k}]")
        assert mapped(d.nodes["positions"]) and not mapped(r.nodes["positions"])
        if not d.full:
            np.testing.assert_array_equal(d.senders, r.senders)
            assert mapped(d.senders)
    # the same plans and the same collated batches
    train = [ds.splits["train"] for ds in (disk, ram)]
    plan = geobatch.Planner("dynamic", 8).plan_epoch(train[0].sizes, seed=1)
    assert len(plan) > 10
    collators = [t.collator(plan.padded.max(axis=0)) for t in train]
    # the mapped store's collator reads each batch's rows ahead (madvise), the other does not
    assert [c._native.read_ahead for c in collators] == [True, False]
    # pickled, the mapped split is its folder (a few hundred bytes, not its arrays), mapped
    # again when unpickled; the in-memory one pickles its arrays
    pickled = [pickle.dumps(t) for t in train]
    assert len(pickled[0]) < 1000 < len(pickled[1])
    copies = [pickle.loads(p) for p in pickled]
    assert mapped(copies[0].nodes["positions"]) and not mapped(copies[1].nodes["positions"])
    assert [c.collator((64, 512, 9))._native.read_ahead for c in copies] == [True, False]
    for k, a in train[1].nodes.items():
        np.testing.assert_array_equal(copies[0].nodes[k], a)
    for b in range(len(plan)):
        x, y = (c.collate_plan(plan, b) for c in collators)
        for name in ("senders", "receivers", "n_node", "n_edge"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)
        for kind in ("nodes", "edges", "graphs"):
            for k, a in getattr(y, kind).items():
                np.testing.assert_array_equal(getattr(x, kind)[k], a, err_msg=f"batch {b} {k}")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_torch_loader_gives_the_same_batches_from_the_disk(tmp_path, family):
    torch = pytest.importorskip("torch")
    from geobatch.torch import DataLoader

    out = write_store(tmp_path, family)
    batches = []
    for memory in ("disk", "ram"):
        ds = geobatch.load_dataset(kind="store", path=str(out), memory=memory)
        loader = DataLoader(ds.splits["train"], "dynamic", 8, seed=2)
        batches.append([{k: v.clone() for k, v in b.items() if torch.is_tensor(v)} for b in loader])
    assert len(batches[0]) == len(batches[1]) > 10
    for a, b in zip(*batches):
        assert a.keys() == b.keys()
        for k in a:
            x, y = a[k], b[k]
            if not x.is_floating_point():
                # image shifts: int32 as stored on the disk, the narrowest type in memory
                x, y = x.long(), y.long()
            assert torch.equal(x, y), k


def test_a_partial_or_missing_store_is_refused_by_name(tmp_path):
    out = write_store(tmp_path, "molecules")
    manifest = out / "test" / "store.json"
    manifest.write_text(manifest.read_text().replace('"finished": true', '"finished": false'))
    with pytest.raises(ValueError, match="stopped before it finished.*partial=True"):
        geobatch.load_dataset(kind="store", path=str(out))
    ds = geobatch.load_dataset(kind="store", path=str(out), partial=True)
    assert len(ds.splits["test"]) == 30
    with pytest.raises(FileNotFoundError, match="geobatch data store"):
        geobatch.load_dataset(kind="store", path=str(tmp_path / "nowhere"))
