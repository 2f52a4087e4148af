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
