"""The contract every model family follows (tests/test_family_contract.py checks it for each).

forward(text, text_mask, audio, audio_mask, vision, vision_mask) -> (score [B], uncertainty [B])
Masks are float tensors, 1 = present; an absent modality has an all-zero mask. No tensor-value
dependent Python control flow: every model must `torch.export`.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_msa.features.spec import INPUT_NAMES, OUTPUT_NAMES, FeatureSpec

__all__ = ["INPUT_NAMES", "OUTPUT_NAMES", "MSAModel"]


class MSAModel(nn.Module):
    """Base class: holds the FeatureSpec and the builder config so a run can be rebuilt."""

    family: str = ""

    def __init__(self, spec: FeatureSpec, config: dict) -> None:
        super().__init__()
        self.spec = spec
        self.config = dict(config)  # JSON-serialisable kwargs that rebuild this model

    def example_inputs(self, batch_size: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """A valid input tuple for `forward` (all modalities present, random content)."""
        g = torch.Generator().manual_seed(seed)
        s = self.spec
        if s.text.is_tokens:
            text = torch.randint(1000, s.text.dim, (batch_size, s.text.max_len), generator=g)
            text[:, 0] = 101  # [CLS]
        else:
            text = torch.randn(batch_size, s.text.max_len, s.text.dim, generator=g)
        audio = torch.randn(batch_size, s.audio.max_len, s.audio.dim, generator=g)
        vision = torch.randn(batch_size, s.vision.max_len, s.vision.dim, generator=g)
        ones = [torch.ones(batch_size, m.max_len) for m in (s.text, s.audio, s.vision)]
        return text, ones[0], audio, ones[1], vision, ones[2]

    def training_loss(
        self, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss for one batch; families with auxiliary losses override this."""
        score, _ = self(*inputs)
        loss = nn.functional.l1_loss(score, labels)
        return loss, {"loss": float(loss.detach())}

    def count_parameters(self, exclude_text_encoder: bool = False) -> int:
        skip = set()
        encoder = getattr(self, "text_encoder", None)  # None: a features-only text input
        if exclude_text_encoder and encoder is not None:
            skip = {id(p) for p in encoder.parameters()}
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)
