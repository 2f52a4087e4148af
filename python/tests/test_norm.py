"""Normalisation over a padded batch: geobatch.torch.MaskedBatchNorm's real outputs (and running
statistics) do not depend on the padding, and equal BatchNorm1d's over the real rows alone;
torch's BatchNorm1d in train mode over the padded rows moves them (skips without torch)."""

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/torch-env.sh)")

from geobatch.torch import MaskedBatchNorm  # noqa: E402


def _padded(real, rows):
    """The real rows followed by zero padding rows, and the mask of the real ones."""
    x = torch.cat([real, torch.zeros(rows - len(real), real.shape[1])])
    return x, torch.arange(rows) < len(real)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_real_outputs_do_not_depend_on_padding(momentum):
    torch.manual_seed(0)
    real = torch.randn(37, 5) * 3 + 1
    reference = torch.nn.BatchNorm1d(5, momentum=momentum)
    torch.nn.init.uniform_(reference.weight)
    torch.nn.init.uniform_(reference.bias)
    outs = {}
    for rows in (37 + 1, 37 + 20, 37 + 200):
        norm = MaskedBatchNorm(5, momentum=momentum)
        norm.load_state_dict(reference.state_dict())
        x, mask = _padded(real, rows)
        for _ in range(3):  # the running statistics follow the real rows too
            outs[rows] = norm(x, mask)[:37]
        norm.eval()
        outs[rows, "eval"] = norm(x, mask)[:37]
        state = {k: v.clone() for k, v in norm.state_dict().items()}
        outs[rows, "state"] = state
    ref = torch.nn.BatchNorm1d(5, momentum=momentum)
    ref.load_state_dict(reference.state_dict())
    for _ in range(3):
        want = ref(real)
    ref.eval()
    want_eval = ref(real)
    for rows in (38, 57, 237):
        assert torch.allclose(outs[rows], want, atol=1e-5), rows
        assert torch.allclose(outs[rows, "eval"], want_eval, atol=1e-5), rows
        for k, v in ref.state_dict().items():
            assert torch.allclose(outs[rows, "state"][k].to(v.dtype), v, atol=1e-5), (rows, k)


def test_torchs_batchnorm_over_padding_moves_real_outputs():
    """What the masked layer is for: the same real rows with more padding give other outputs."""
    torch.manual_seed(0)
    real = torch.randn(37, 5) * 3 + 1
    norm = torch.nn.BatchNorm1d(5)
    a = norm(_padded(real, 38)[0])[:37]
    b = norm(_padded(real, 237)[0])[:37]
    assert (a - b).abs().max() > 0.05


def test_the_mask_attribute_serves_a_model_that_calls_norm_x():
    torch.manual_seed(0)
    real = torch.randn(10, 3)
    x, mask = _padded(real, 30)
    norm = MaskedBatchNorm(3)
    norm.mask = mask
    assert torch.allclose(norm(x)[:10], MaskedBatchNorm(3)(real), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(rows, features\)"):
        norm(x[None])


@pytest.mark.parametrize("momentum", [0.1, None])
def test_an_all_padding_batch_leaves_the_running_statistics_alone(momentum):
    """A batch with no real row has no statistics: the running ones (and num_batches_tracked)
    stay as they were, and the output is finite (they used to move towards mean 0, var 0)."""
    torch.manual_seed(0)
    norm = MaskedBatchNorm(4, momentum=momentum)
    x, mask = _padded(torch.randn(20, 4) * 2 + 3, 32)
    norm(x, mask)
    before = {k: v.clone() for k, v in norm.state_dict().items()}
    out = norm(torch.randn(32, 4), torch.zeros(32, dtype=torch.bool))
    assert torch.isfinite(out).all()
    for k, v in norm.state_dict().items():
        assert torch.equal(v, before[k]), k
    # and the next real batch is counted as the second (momentum=None: a cumulative average)
    ref = torch.nn.BatchNorm1d(4, momentum=momentum)
    ref(x[:20])
    ref(x[:20] * 2)
    norm(torch.cat([x[:20] * 2, x[20:]]), mask)
    for k, v in ref.state_dict().items():
        assert torch.allclose(norm.state_dict()[k].to(v.dtype), v, atol=1e-5), k


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 3e38])
def test_nan_and_inf_in_padding_rows_never_reach_real_rows_or_running_statistics(bad):
    """Padding may hold anything (an earlier layer's NaN, a huge value): the outputs (padding rows
    included), the gradients and the running statistics are those of zero padding, in training
    and evaluation (0 * NaN was NaN in the masked sums)."""
    torch.manual_seed(0)
    real = torch.randn(12, 3)
    clean, mask = _padded(real, 20)
    dirty = clean.clone()
    dirty[12:] = bad
    outs, grads, states = [], [], []
    for x in (clean, dirty):
        norm = MaskedBatchNorm(3)
        torch.manual_seed(1)
        torch.nn.init.uniform_(norm.weight)
        x = x.clone().requires_grad_(True)
        out = norm(x, mask)
        out[:12].square().sum().backward()
        outs.append(out.detach())
        grads.append((x.grad, norm.weight.grad, norm.bias.grad))
        norm.eval()
        outs.append(norm(x, mask).detach())
        states.append(norm.state_dict())
    for clean_out, dirty_out in zip(outs[:2], outs[2:]):
        assert torch.isfinite(dirty_out).all() and torch.allclose(clean_out, dirty_out, atol=1e-6)
    for clean_grad, dirty_grad in zip(*grads):
        assert torch.isfinite(dirty_grad).all() and torch.allclose(clean_grad, dirty_grad, atol=1e-6)
    assert not grads[1][0][12:].any()
    for k, v in states[0].items():
        assert torch.isfinite(states[1][k].float()).all() and torch.allclose(states[1][k], v), k


def test_a_mask_of_another_length_is_refused_by_name():
    norm = MaskedBatchNorm(3)
    with pytest.raises(ValueError, match=r"mask has shape \(9,\), x has 10 rows"):
        norm(torch.randn(10, 3), torch.ones(9, dtype=torch.bool))


def test_masked_batch_norm_compiles_as_one_graph_on_any_mask():
    """No data-dependent branch: one graph (fullgraph) for real, all-padding and NaN-padded
    batches of one shape, in training and evaluation."""
    graphs = []

    def counting(gm, inputs):
        graphs.append(gm)
        return gm.forward

    torch.manual_seed(0)
    norm = MaskedBatchNorm(3)
    compiled = torch.compile(norm, backend=counting, dynamic=False, fullgraph=True)
    x, mask = _padded(torch.randn(10, 3), 16)
    eager = MaskedBatchNorm(3)
    for m in (mask, torch.zeros(16, dtype=torch.bool), mask):
        x = x.clone()
        x[10:] = float("nan")
        got, want = compiled(x, m), eager(x, m)
        assert torch.allclose(got[m], want[m]) and torch.isfinite(got[m]).all()
    assert len(graphs) == 1
    for k, v in eager.state_dict().items():
        assert torch.allclose(norm.state_dict()[k], v), k


def test_a_model_with_masked_batch_norm_pickles():
    """torch.save(model) pickles its layers' classes by name: the class made on first use is
    found as geobatch.torch.MaskedBatchNorm."""
    import copy
    import pickle

    norm = MaskedBatchNorm(3)
    norm(torch.randn(5, 3), torch.ones(5, dtype=torch.bool))
    back = pickle.loads(pickle.dumps(torch.nn.Sequential(norm)))[0]
    assert type(back) is MaskedBatchNorm and torch.equal(back.running_mean, norm.running_mean)
    assert type(copy.deepcopy(norm)) is MaskedBatchNorm
