"""``geobatch.torch.MaskedBatchNorm``: BatchNorm over the real rows of a padded batch, made
when first asked for (it subclasses torch's ``BatchNorm1d``, and importing geobatch needs no
torch). Pickled as ``geobatch.torch.MaskedBatchNorm``."""

from __future__ import annotations

from typing import Optional

#: the class, once made
_CLASS = None


def _masked_batch_norm_class():
    """``MaskedBatchNorm``: made on first use."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import torch

    class MaskedBatchNorm(torch.nn.BatchNorm1d):
        """``torch.nn.BatchNorm1d`` over the real rows of a padded batch: in training, the batch
        statistics (and the running ones it updates) are those of the rows where ``mask`` is
        true, so real outputs do not depend on the padding; in evaluation it is BatchNorm1d
        (running statistics, row by row). ``forward(x, mask)`` with ``x`` (rows, features) and
        ``mask`` (rows,) bool, e.g. ``batch.node_mask``; or set ``.mask`` before the forward
        of a model that calls ``norm(x)`` (as ``BatchEdges``). Padding rows come out as zero
        rows normalised with the real rows' statistics: mask them out of the loss.

        Padding values never enter: they are selected out (``torch.where``), not multiplied by
        zero, so NaN, inf or huge values in padding rows change no output (the padding rows'
        included), no gradient and no running statistic. A batch with no real row
        (``mask`` all false) leaves the running statistics and ``num_batches_tracked`` as they
        were, and normalises with mean 0 and variance 0. Static shapes, no branch on values:
        compiles once (one graph) under ``torch.compile(dynamic=False)``."""

        def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                     affine: bool = True, track_running_stats: bool = True, device=None, dtype=None):
            super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
            #: the real rows of the next forward's input, when the forward is not given one
            self.mask = None

        def forward(self, x, mask=None):
            mask = self.mask if mask is None else mask
            if mask is None or x.dim() != 2:
                if mask is not None:
                    raise ValueError(f"MaskedBatchNorm: x must be (rows, features), got {tuple(x.shape)}")
                return super().forward(x)
            if tuple(mask.shape) != tuple(x.shape[:1]):
                raise ValueError(
                    f"MaskedBatchNorm: mask has shape {tuple(mask.shape)}, x has {x.shape[0]} rows: "
                    f"give one bool per row, ({x.shape[0]},)"
                )
            # padding rows are selected out, never multiplied by zero (0 * NaN and 0 * inf are
            # NaN): whatever they hold reaches no real output, gradient or statistic
            keep = mask.to(torch.bool).unsqueeze(-1)
            x = torch.where(keep, x, 0.0)
            if not self.training and self.track_running_stats:
                return super().forward(x)
            count = keep.sum(0).to(x.dtype)  # (1,): the real rows
            n = count.clamp_min(1)
            mean = x.sum(0) / n
            dev = torch.where(keep, x - mean, 0.0)
            var = (dev * dev).sum(0) / n
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    # a batch without a real row has no statistics: nothing is updated or counted
                    # (tensor arithmetic, no branch on values: one graph under torch.compile)
                    real = count > 0
                    tracked = self.num_batches_tracked
                    tracked.add_(real.to(tracked.dtype).squeeze(0))
                    if self.momentum is None:
                        factor = 1.0 / tracked.clamp_min(1).to(x.dtype)
                    else:
                        factor = self.momentum
                    unbiased = var * count / (count - 1).clamp_min(1)
                    self.running_mean.copy_(torch.where(
                        real, self.running_mean * (1 - factor) + factor * mean, self.running_mean))
                    self.running_var.copy_(torch.where(
                        real, self.running_var * (1 - factor) + factor * unbiased, self.running_var))
            out = (x - mean) * torch.rsqrt(var + self.eps)
            if self.affine:
                out = out * self.weight + self.bias
            return out

    # pickled (torch.save of a model) as geobatch.torch.MaskedBatchNorm, which __getattr__ gives
    MaskedBatchNorm.__module__ = "geobatch.torch"
    MaskedBatchNorm.__qualname__ = "MaskedBatchNorm"
    _CLASS = MaskedBatchNorm
    return MaskedBatchNorm
