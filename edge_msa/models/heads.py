"""Small pieces the baseline families share: masked mean pooling and a score head that also
predicts its own error (the `uncertainty` output of the model contract).

Uncertainty here is the expected absolute error of the score, on the label scale: the scale `b`
of a Laplace distribution around the score, fitted with the Laplace negative log-likelihood. Its
branch reads detached features and the detached score, so it never changes the score itself.
"""

from __future__ import annotations

import torch
from torch import nn


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T, D] frames, [B, T] float mask -> [B, D] mean over present frames (0 when none)."""
    w = mask.unsqueeze(-1)
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


def present(mask: torch.Tensor) -> torch.Tensor:
    """[B, T] mask -> [B, 1] float flag: 1 when the modality has any present frame."""
    return (mask.sum(1, keepdim=True) > 0).to(mask.dtype)


class ScoreHead(nn.Module):
    """features [B, W] -> (score [B], uncertainty [B] = predicted absolute error, > 0)."""

    def __init__(self, width: int, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, hidden), nn.GELU(),
                                   nn.Dropout(dropout))
        self.score = nn.Linear(hidden, 1)
        self.error = nn.Linear(hidden, 1)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(feats)
        score = self.score(h).squeeze(-1)
        uncertainty = nn.functional.softplus(self.error(h.detach()).squeeze(-1)) + 1e-3
        return score, uncertainty


def score_error_loss(score: torch.Tensor, uncertainty: torch.Tensor,
                     labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 on the score (the field's loss) + Laplace NLL that fits the uncertainty branch."""
    err = (score - labels).abs()
    nll = (err.detach() / uncertainty + uncertainty.log()).mean()
    loss = err.mean() + nll
    return loss, {"loss": float(loss.detach()), "mae": float(err.mean().detach()), "nll": float(nll.detach())}
