"""A potential's data in users' own loops (DESIGN.md §16): positions, forces, stress, cell and
integer image shifts through every padded batch geobatch makes (``Collator`` and jraph, PyG's
``DataLoader`` and ``PadCollate``), checked the way a user's loop uses them: a pair potential
written on the batch's ``positions``/``pos``, ``cell``, ``cell_offsets`` and edges, differentiated
by autograd in float64, gives the forces of the same potential on ASE's own neighbour list of the
structures; force labels arrive unchanged; padding atoms get exactly zero force and padding
graphs exactly zero energy."""

import importlib.util

import numpy as np
import pytest

import geobatch

CUTOFF = 5.0
from conftest import BATCHERS  # every registered batcher, as a user names them


def need(*modules):
    for m in modules:
        if importlib.util.find_spec(m) is None:
            pytest.skip(f"{m} is not installed (scripts/python-env.sh installs it; torch: docs/python.md)")


@pytest.fixture(scope="module")
def mlearn():
    return geobatch.load_dataset(kind="mlearn", source="fixture", targets=["energy", "forces", "stress"],
                                 graph={"kind": "cutoff", "radius": CUTOFF})


def pair(r, xp):
    """A Morse pair energy (eV) with a cosine cutoff: zero, with its slope, from CUTOFF on."""
    a, r0 = 1.3, 2.6
    x = xp.exp(-a * (r - r0))
    inside = r < CUTOFF
    fc = xp.where(inside, 0.5 * (xp.cos(np.pi * xp.clip(r, 0.0, CUTOFF) / CUTOFF) + 1.0), 0.0)
    return (x * x - 2.0 * x) * fc


def reference(store, g):
    """Energy and forces of graph ``g`` by the pair potential on ASE's neighbour list (float64,
    the store's own float32 geometry), summed by hand: E = 1/2 sum_ij phi(r_ij)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    a, b = store.node_offsets[g], store.node_offsets[g + 1]
    pos = store.nodes["positions"][a:b].astype(np.float64)
    cell = store.graphs["cell"][g].astype(np.float64)
    atoms = Atoms(numbers=store.nodes["atomic_numbers"][a:b], positions=pos, cell=cell, pbc=True)
    i, j, d, D = neighbor_list("ijdD", atoms, CUTOFF)
    e = 0.5 * np.sum(pair(d, np)) if len(d) else 0.0
    # dE/dD for every ordered pair (i, j): D = x_j + S.cell - x_i
    h = 1e-6
    slope = (pair(d + h, np) - pair(d - h, np)) / (2 * h)
    f_on_j = -0.5 * (slope / np.maximum(d, 1e-12))[:, None] * D
    forces = np.zeros_like(pos)
    np.add.at(forces, j, f_on_j)
    np.add.at(forces, i, -f_on_j)
    return e, forces, len(d)


def jax_energy_and_forces():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def energies(pos, cell, offsets, senders, receivers, node_graph, graphs):
        g = node_graph[senders]
        vec = pos[senders] + jnp.einsum("ei,eij->ej", offsets, cell[g]) - pos[receivers]
        r = jnp.sqrt(jnp.sum(vec * vec, axis=-1))
        return jax.ops.segment_sum(0.5 * pair(r, jnp), g, graphs)

    def step(pos, cell, offsets, senders, receivers, node_graph, graphs):
        def total(p):
            e = energies(p, cell, offsets, senders, receivers, node_graph, graphs)
            return e.sum(), e

        (_, e), grad = jax.value_and_grad(total, has_aux=True)(pos)
        return e, -grad

    return jax.jit(step, static_argnums=6)


@pytest.mark.parametrize("kind,options", BATCHERS)
def test_jax_forces_through_padded_batches_match_ase(mlearn, kind, options):
    need("jax", "ase")
    import jax.numpy as jnp

    store = mlearn.splits["train"]
    step = jax_energy_and_forces()
    plan = geobatch.Planner(kind, 8, **options).plan_epoch(store.sizes, seed=1)
    collator = store.collator(plan.padded.max(axis=0))
    refs = {g: reference(store, g) for g in range(len(store))}
    seen = 0
    for b in range(len(plan)):
        batch = collator.collate_plan(plan, b)
        rn, re, rg = batch.real
        pn, pe, pg = batch.padded
        gt = batch.to_jraph()
        e, f = step(jnp.asarray(gt.nodes["positions"], jnp.float64), jnp.asarray(gt.globals["cell"], jnp.float64),
                    jnp.asarray(gt.edges["cell_offsets"], jnp.float64), gt.senders, gt.receivers,
                    batch.node_graph, pg)
        e, f = np.asarray(e), np.asarray(f)
        assert (f[rn:] == 0).all(), "padding atoms get a force"
        assert (e[rg:] == 0).all(), "padding graphs get an energy"
        start = 0
        for k, g in enumerate(plan[b]):
            n = int(store.n_node[g])
            want_e, want_f, pairs = refs[int(g)]
            assert int(store.n_edge[g]) == pairs, f"graph {g}: {store.n_edge[g]} edges, ASE {pairs}"
            np.testing.assert_allclose(e[k], want_e, rtol=1e-9, atol=1e-6)
            np.testing.assert_allclose(f[start:start + n], want_f, atol=1e-6)
            a = store.node_offsets[g]
            assert (batch.nodes["forces"][start:start + n] == store.nodes["forces"][a:a + n]).all()
            start += n
            seen += 1
        assert start == rn
    assert seen == len(store)


def test_padding_edges_lie_beyond_any_cutoff(mlearn):
    store = mlearn.splits["train"]
    plan = geobatch.Planner("static", 8, pad="pow2").plan_epoch(store.sizes, seed=0)
    batch = store.collator(plan.padded.max(axis=0)).collate_plan(plan, 0)
    rn, re, rg = batch.real
    off = batch.edges["cell_offsets"]
    cell = batch.graphs["cell"]
    assert (off[re:] == [1, 0, 0]).all() and (cell[rg:] == geobatch.store.PADDING_LENGTH * np.eye(3)).all()
    s, r = batch.senders[re:], batch.receivers[re:]
    g = batch.node_graph[s]
    pos = batch.nodes["positions"]
    vec = pos[s] + np.einsum("ei,eij->ej", off[re:], cell[g]) - pos[r]
    assert np.allclose(np.linalg.norm(vec, axis=1), geobatch.store.PADDING_LENGTH)
    # the real rows are the store's own
    n = int(store.n_node[plan[0]].sum())
    assert n == rn and (cell[:rg] == store.graphs["cell"][plan[0]]).all()


def test_labels_and_shapes_of_a_potential_dataset(mlearn):
    train = mlearn.splits["train"]
    assert train.nodes["forces"].shape == train.nodes["positions"].shape
    # the narrowest integer type holding the shifts; no stored float vectors (the step rebuilds them)
    assert train.edges["cell_offsets"].dtype == np.int8 and train.edges["cell_offsets"].shape == (int(train.n_edge.sum()), 3)
    assert set(train.edges) == {"cell_offsets"}
    assert train.graphs["stress"].shape == (len(train), 3, 3) and train.graphs["stress_mask"].all()
    # mlearn's validation and test files copy training stresses: none is kept
    assert not mlearn.splits["test"].graphs["stress_mask"].any()
    assert (mlearn.splits["test"].graphs["stress"] == 0).all()
    # OCP's convention, stated in docs/python.md: x_s + S.cell - x_r is minus geobatch's edge
    # vector (the same structures loaded for their energy alone keep the stored vectors)
    plain = geobatch.load_dataset(kind="mlearn", source="fixture", targets=["energy"], graph={"kind": "cutoff", "radius": CUTOFF})
    stored = plain.splits["train"]
    assert (stored.senders == train.senders).all() and (stored.receivers == train.receivers).all()
    s, r = train.senders.astype(np.int64), train.receivers.astype(np.int64)
    graph = np.repeat(np.arange(len(train)), train.n_edge)
    base = train.node_offsets[graph]
    pos = train.nodes["positions"].astype(np.float64)
    vec = pos[base + s] + np.einsum("ei,eij->ej", train.edges["cell_offsets"], train.graphs["cell"][graph].astype(np.float64)) - pos[base + r]
    np.testing.assert_allclose(vec, -stored.edges["edge_vectors"], atol=1e-4)


def test_a_potential_needs_the_labels_it_names(tmp_path):
    # forces named on data without them: the dataset says so, naming what it has
    with pytest.raises(ValueError, match="forces"):
        geobatch.load_dataset(kind="qm9", source="fixture", targets=["U0", "forces"])
    xyz = tmp_path / "plain.xyz"
    xyz.write_text('2\nenergy=-1.0 pbc="F F F"\nH 0 0 0\nH 0 0 0.74\n2\nenergy=-1.1 pbc="F F F"\nH 0 0 0\nH 0 0 0.75\n')
    with pytest.raises(ValueError, match="forces") as err:
        geobatch.load_dataset(kind="extxyz", path=str(xyz), targets=["energy", "forces"],
                              graph={"kind": "cutoff", "radius": 3.0})
    print(err.value)
    # a stress of a structure that is not periodic has no volume to be a stress of
    mol = tmp_path / "molecule.xyz"
    frame = ('2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 stress="1 0 0 0 1 0 0 0 1" '
             'pbc="F F F"\nH 0 0 0 0 0 0.1\nH 0 0 0.74 0 0 -0.1\n')
    mol.write_text(frame * 3)
    with pytest.raises(ValueError, match="stress") as err:
        geobatch.load_dataset(kind="extxyz", path=str(mol), targets=["energy", "forces", "stress"],
                              graph={"kind": "cutoff", "radius": 3.0})
    assert "periodic" in str(err.value), err.value


def test_pyg_batches_carry_a_potential_and_give_ases_forces(mlearn):
    need("torch", "torch_geometric", "ase")
    import torch

    import geobatch.torch

    store = mlearn.splits["train"]
    for kind, options in BATCHERS:
        loader = geobatch.torch.DataLoader(store, kind, 8, shuffle=True, seed=2, **options)
        seen = []
        for batch in loader:
            pos = batch.pos.double().requires_grad_(True)
            src, dst = batch.edge_index
            g = batch.batch[src]
            vec = pos[src] + torch.einsum("ei,eij->ej", batch.cell_offsets.double(), batch.cell.double()[g]) - pos[dst]
            e = torch.zeros(batch.num_graphs, dtype=torch.float64).index_add(0, g, 0.5 * pair(vec.norm(dim=-1), torch))
            (grad,) = torch.autograd.grad(e.sum(), pos)
            f = -grad.numpy()
            rn, rg = int(batch.node_mask.sum()), batch.num_real_graphs
            assert (f[rn:] == 0).all() and (e[rg:] == 0).all(), kind
            ptr = batch.ptr.numpy()
            for k, data in enumerate(batch.to_data_list()):
                gi = _graph_of(store, data)
                want_e, want_f, _ = reference(store, gi)
                np.testing.assert_allclose(e[k].item(), want_e, rtol=1e-9, atol=1e-6)
                np.testing.assert_allclose(f[ptr[k]:ptr[k + 1]], want_f, atol=1e-6)
                a, b = store.node_offsets[gi], store.node_offsets[gi + 1]
                assert (data.forces.numpy() == store.nodes["forces"][a:b]).all()
                seen.append(gi)
        assert sorted(seen) == list(range(len(store))), kind


def _graph_of(store, data):
    """The store's graph that a real graph of a batch is (its positions, which are distinct)."""
    key = data.pos.numpy()
    for g in range(len(store)):
        a, b = store.node_offsets[g], store.node_offsets[g + 1]
        if b - a == len(key) and (store.nodes["positions"][a:b] == key).all():
            return g
    raise AssertionError("a batch graph that is not in the store")


def fairchem_data(store):
    """OCP/fairchem-style PyG ``Data`` of the store's structures (pos, forces, cell (1, 3, 3),
    cell_offsets, stress, targets), as ``geobatch.torch.data_list`` makes them."""
    import geobatch.torch

    return geobatch.torch.data_list(store)


def test_fairchem_style_data_go_through_unchanged(mlearn):
    need("torch", "torch_geometric")
    import torch

    import geobatch.torch

    store = mlearn.splits["train"]
    data = fairchem_data(store)
    planner = geobatch.Planner("pack", 8)
    plan = planner.plan_epoch(store.sizes, seed=0)
    fast = geobatch.torch.DataLoader(data, "pack", 8, shuffle=True, seed=0)
    collate = geobatch.torch.PadCollate()
    for b, batch in enumerate(fast):
        items = geobatch.torch.PlannedDataset(data).__getitems__(_Planned(plan, b))
        slow = collate(items)
        for key in ("pos", "forces", "cell", "cell_offsets", "stress", "targets", "edge_index", "batch", "ptr"):
            assert torch.equal(batch[key], slow[key]), key
        for k, d in enumerate(batch.to_data_list()):
            want = data[int(plan[b][k])]
            for key in ("pos", "forces", "cell", "cell_offsets", "stress", "targets"):
                assert torch.equal(d[key], want[key]), key
    assert b == len(plan) - 1


class _Planned(list):
    """Batch ``b``'s indices with the plan's padded shape, as ``BatchSampler`` yields them."""

    def __init__(self, plan, b):
        super().__init__(int(i) for i in plan[b])
        self.padded = tuple(int(x) for x in plan.padded[b])


def test_user_data_with_wrong_shapes_are_named(mlearn):
    need("torch", "torch_geometric")
    import torch

    import geobatch.torch

    data = fairchem_data(mlearn.splits["train"])[:4]
    data[2].forces = data[2].forces[:-1]
    with pytest.raises(ValueError, match=r"structure 2: forces has shape"):
        geobatch.torch.DataLoader(data, "pack", 2)
    with pytest.raises(ValueError, match=r"structure 2: forces"):
        geobatch.torch.PadCollate(shape=(4096, 65536, 8))(data)
    data = fairchem_data(mlearn.splits["train"])[:4]
    data[1].cell = data[1].cell[0]
    with pytest.raises(ValueError, match=r"structure 1: cell has shape \(3, 3\), expected \(1, 3, 3\)"):
        geobatch.torch.DataLoader(data, "pack", 2)
    data = fairchem_data(mlearn.splits["train"])[:4]
    data[3].cell_offsets = data[3].cell_offsets[:, :2]
    with pytest.raises(ValueError, match=r"structure 3: cell_offsets"):
        geobatch.torch.DataLoader(data, "pack", 2)
    assert torch.is_tensor(data[0].pos)


def ase_structures(store):
    """The store's structures as ASE ``Atoms`` with their energy, forces and stress."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.stress import full_3x3_to_voigt_6_stress

    out = []
    for g in range(len(store)):
        a, b = store.node_offsets[g], store.node_offsets[g + 1]
        atoms = Atoms(numbers=store.nodes["atomic_numbers"][a:b],
                      positions=store.nodes["positions"][a:b].astype(np.float64),
                      cell=store.graphs["cell"][g].astype(np.float64), pbc=True)
        atoms.info["name"] = f"s{g}"
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(store.graphs["targets"][g, 0]),
            forces=store.nodes["forces"][a:b].astype(np.float64),
            stress=full_3x3_to_voigt_6_stress(store.graphs["stress"][g].astype(np.float64)))
        out.append(atoms)
    return out


@pytest.mark.parametrize("kind", ["extxyz", "asedb"])
def test_extxyz_and_ase_databases_carry_the_same_labels(mlearn, kind, tmp_path):
    need("ase", "jax")
    import ase.io
    import jax.numpy as jnp

    store = mlearn.splits["train"]
    structures = ase_structures(store)
    if kind == "extxyz":
        path = tmp_path / "train.xyz"
        ase.io.write(path, structures, format="extxyz")
        extra = {"id_key": "name"}
    else:
        import ase.db

        path = tmp_path / "train.db"
        with ase.db.connect(path) as db:
            for atoms in structures:
                db.write(atoms, name=atoms.info["name"])
        extra = {}
    data = geobatch.load_dataset(kind=kind, path=str(path), targets=["energy", "forces", "stress"],
                                 graph={"kind": "cutoff", "radius": CUTOFF}, data_dir=str(tmp_path),
                                 split={"train": 20, "validation": 2, "test": 2}, **extra)
    step = jax_energy_and_forces()
    count = 0
    for name, split in data.splits.items():
        for k, ident in enumerate(data.ids[name]):
            g = int(str(ident).rsplit("s", 1)[-1]) if kind == "extxyz" else _graph_of_positions(store, split, k)
            a, b = store.node_offsets[g], store.node_offsets[g + 1]
            c, d = split.node_offsets[k], split.node_offsets[k + 1]
            assert (split.nodes["forces"][c:d] == store.nodes["forces"][a:b]).all()
            np.testing.assert_allclose(split.graphs["stress"][k], store.graphs["stress"][g], rtol=1e-6, atol=1e-9)
            assert split.graphs["stress_mask"][k]
            assert (split.graphs["cell"][k] == store.graphs["cell"][g]).all()
            count += 1
        plan = geobatch.Planner("pack", min(8, len(split) + 1)).plan_epoch(split.sizes, seed=0)
        collator = split.collator(plan.padded.max(axis=0))
        for b in range(len(plan)):
            batch = collator.collate_plan(plan, b)
            e, f = step(jnp.asarray(batch.nodes["positions"], jnp.float64), jnp.asarray(batch.graphs["cell"], jnp.float64),
                        jnp.asarray(batch.edges["cell_offsets"], jnp.float64), batch.senders, batch.receivers,
                        batch.node_graph, batch.padded[2])
            start = 0
            for k, g in enumerate(plan[b]):
                want_e, want_f, _ = reference(split, int(g))
                n = int(split.n_node[g])
                np.testing.assert_allclose(np.asarray(f)[start:start + n], want_f, atol=1e-6)
                np.testing.assert_allclose(float(e[k]), want_e, rtol=1e-9, atol=1e-6)
                start += n
    assert count == len(store)


def _graph_of_positions(store, split, k):
    c, d = split.node_offsets[k], split.node_offsets[k + 1]
    key = split.nodes["positions"][c:d]
    for g in range(len(store)):
        a, b = store.node_offsets[g], store.node_offsets[g + 1]
        if b - a == d - c and (store.nodes["positions"][a:b] == key).all():
            return g
    raise AssertionError(f"structure {k} of the database is not in the store")


def test_a_store_of_fairchem_data_keeps_the_cell_a_matrix(mlearn):
    need("torch", "torch_geometric")
    store = mlearn.splits["train"]
    again = geobatch.GraphStore.from_pyg(fairchem_data(store))
    assert again.graphs["cell"].shape == (len(store), 3, 3) and (again.graphs["cell"] == store.graphs["cell"]).all()
    assert again.graphs["targets"].shape == (len(store), 1)
    plan = geobatch.Planner("pack", 8).plan_epoch(again.sizes, seed=0)
    batch = again.collator(plan.padded.max(axis=0)).collate_plan(plan, 0)
    assert (batch.graphs["cell"][batch.real[2]:] == geobatch.store.PADDING_LENGTH * np.eye(3)).all()
    data = fairchem_data(store)[:3]
    data[1].forces = data[1].forces[:, :2]
    with pytest.raises(ValueError, match="structure 1: forces"):
        geobatch.GraphStore.from_pyg(data)


def test_arrays_named_cell_that_are_no_cell_are_named():
    n = np.array([2, 2])
    store = geobatch.GraphStore(n, nodes={"x": np.zeros((4, 1))}, edges={"cell_offsets": np.zeros((4, 2), np.int8)},
                                graphs={"cell": np.zeros((2, 4))}, edge_index=np.array([[0, 1, 0, 1], [1, 0, 1, 0]]),
                                n_edge=np.array([2, 2]))
    with pytest.raises(ValueError, match="'cell' \\(3, 4\\) and 'cell_offsets' \\(6, 2\\)"):
        store.collator((8, 6, 3)).collate([0, 1], (8, 6, 3))
