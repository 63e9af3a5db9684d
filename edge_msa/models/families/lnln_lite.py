"""`lnln_lite`: LNLN (Zhang et al., NeurIPS 2024), language-dominated and noise-resistant, for edge.

Exported forward (what runs on the device):
1. each modality -> `ModalityInput` -> a small pre-norm Transformer with learnable prefix tokens;
   the prefix (8 tokens, as in the paper) is the modality's representation h_l / h_a / h_v;
2. dominant modality correction: a completeness estimator reads h_l and gives w in [0, 1]
   (exactly 0 when the text is absent); a generator builds a proxy language feature h_p from
   h_a + h_v; the corrected feature is h_d = w * h_l + (1 - w) * h_p;
3. language-guided hyper-modality learning: a language encoder refines h_d layer by layer and at
   each layer the language tokens query audio and vision, accumulating a hyper-modality;
4. a cross-attention fusion (language queries the hyper-modality), mean pooling and a score head
   whose second output is the predicted absolute error (`edge_msa.models.heads`).

Training only (`training_loss`, never in the exported graph): LNLN's random missing-data
corruption, the completeness loss (target: the kept share of the text), an effectiveness
discriminator behind gradient reversal (corrected language vs complete language), and
reconstructors of each complete modality representation from the corrupted one. Loss weights
default to the paper's: completeness 0.9, adversarial 0.8, reconstruction 0.1, sentiment 1.0.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_msa.features.spec import FeatureSpec
from edge_msa.models.base import MSAModel
from edge_msa.models.blocks import (
    Attention,
    InputsTextEncoder,
    PrefixEncoder,
    TransformerLayer,
    corrupt_for_training,
    modality_inputs,
    present,
)
from edge_msa.models.heads import ScoreHead, score_error_loss
from edge_msa.models.registry import register_model


class _GradReverse(torch.autograd.Function):
    """Identity forward, -alpha * gradient backward (the adversarial trick of DANN/LNLN)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.alpha * grad, None


class HyperLayer(nn.Module):
    """Language-guided hyper-modality update: language tokens query audio and vision; the answers
    are added to the hyper-modality tokens (ALMT's AHL, as LNLN uses it)."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_l, self.norm_a, self.norm_v = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.from_audio = Attention(d, heads, dropout)
        self.from_vision = Attention(d, heads, dropout)

    def forward(self, hyper: torch.Tensor, lang: torch.Tensor, h_a: torch.Tensor,
                h_v: torch.Tensor) -> torch.Tensor:
        q = self.norm_l(lang)
        return hyper + self.from_audio(q, self.norm_a(h_a)) + self.from_vision(q, self.norm_v(h_v))


class LNLNLite(InputsTextEncoder, MSAModel):
    def __init__(self, spec: FeatureSpec, d: int = 128, n_tokens: int = 8, heads: int = 8,
                 ffn: int | None = None, enc_depth: int = 2, check_depth: int = 1, proxy_depth: int = 2,
                 dmml_depth: int = 3, fusion_depth: int = 2, dropout: float = 0.1, text_layers: int = 6,
                 pretrained: bool = True, freeze_text: bool = False, w_completeness: float = 0.9,
                 w_adversarial: float = 0.8, w_reconstruction: float = 0.1, w_sentiment: float = 1.0,
                 max_rate: float = 1.0, complete_frac: float = 0.5, whole_drop: float = 0.0,
                 grl_alpha: float = 1.0) -> None:
        config = {k: v for k, v in locals().items() if k not in ("self", "spec", "__class__")}
        super().__init__(spec, config)
        ffn = ffn or 2 * d
        self.inputs = modality_inputs(spec, d, text_layers=text_layers, pretrained=pretrained,
                                      freeze=freeze_text, dropout=dropout)
        self.encoders = nn.ModuleList(PrefixEncoder(d, n_tokens, enc_depth, heads, ffn, dropout)
                                      for _ in range(3))
        # dominant modality correction
        self.check = nn.ModuleList(TransformerLayer(d, heads, ffn, dropout) for _ in range(check_depth))
        self.check_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d // 2), nn.GELU(),
                                        nn.Linear(d // 2, 1))
        self.proxy = PrefixEncoder(d, n_tokens, proxy_depth, heads, ffn, dropout)
        # dominant-modality-based multimodal learning
        self.hyper0 = nn.Parameter(torch.randn(1, n_tokens, d) * 0.02)
        self.lang_layers = nn.ModuleList(TransformerLayer(d, heads, ffn, dropout) for _ in range(dmml_depth))
        self.hyper_layers = nn.ModuleList(HyperLayer(d, heads, dropout) for _ in range(dmml_depth))
        self.fusion = nn.ModuleList(TransformerLayer(d, heads, ffn, dropout, cross=True)
                                    for _ in range(fusion_depth))
        self.norm = nn.LayerNorm(d)
        self.head = ScoreHead(d, d, dropout)
        # training only: never called by forward, so never exported
        self.reconstructors = nn.ModuleList(TransformerLayer(d, heads, ffn, dropout) for _ in range(3))
        self.discriminator = nn.Sequential(nn.Linear(d, d // 2), nn.LeakyReLU(0.1), nn.Linear(d // 2, 2))

    def encode(self, text, text_mask, audio, audio_mask, vision, vision_mask) -> list[torch.Tensor]:
        """Per-modality prefix representations [h_l, h_a, h_v], each [B, n_tokens, d]."""
        pairs = ((text, text_mask), (audio, audio_mask), (vision, vision_mask))
        return [enc(inp(x, m), m) for inp, enc, (x, m) in zip(self.inputs, self.encoders, pairs, strict=True)]

    def completeness(self, h_l: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """w [B, 1]: the estimated completeness of the language (0 when the text is absent)."""
        h = h_l
        for layer in self.check:
            h = layer(h)
        return torch.sigmoid(self.check_head(h.mean(1))) * present(text_mask)

    def parts(self, text, text_mask, audio, audio_mask, vision, vision_mask) -> dict[str, torch.Tensor]:
        """The whole forward pass with its intermediate results (forward returns two of them)."""
        h_l, h_a, h_v = self.encode(text, text_mask, audio, audio_mask, vision, vision_mask)
        b = h_l.shape[0]
        w = self.completeness(h_l, text_mask)
        av = torch.cat([h_a, h_v], dim=1)
        h_p = self.proxy(av, av.new_ones(b, av.shape[1]))
        h_d = w.unsqueeze(-1) * h_l + (1.0 - w.unsqueeze(-1)) * h_p
        lang, hyper = h_d, self.hyper0.expand(b, -1, -1)
        for lang_layer, hyper_layer in zip(self.lang_layers, self.hyper_layers, strict=True):
            lang = lang_layer(lang)
            hyper = hyper_layer(hyper, lang, h_a, h_v)
        fused = lang
        for layer in self.fusion:
            fused = layer(fused, context=hyper)
        score, uncertainty = self.head(self.norm(fused).mean(1))
        return {"score": score, "uncertainty": uncertainty, "w": w[:, 0], "h_l": h_l, "h_a": h_a,
                "h_v": h_v, "h_p": h_p, "h_d": h_d}

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        out = self.parts(text, text_mask, audio, audio_mask, vision, vision_mask)
        return out["score"], out["uncertainty"]

    def training_loss(self, inputs, labels):
        """LNLN's objective on a randomly corrupted copy of the batch (the batch is the reference)."""
        cfg = self.config
        corrupted, kept = corrupt_for_training(inputs, cfg["max_rate"], cfg["complete_frac"],
                                               cfg["whole_drop"])
        out = self.parts(*corrupted)
        sentiment, logs = score_error_loss(out["score"], out["uncertainty"], labels)
        l_cc = nn.functional.mse_loss(out["w"], kept)
        loss = cfg["w_sentiment"] * sentiment + cfg["w_completeness"] * l_cc
        logs = {"sentiment": logs["loss"], "mae": logs["mae"], "completeness": float(l_cc.detach())}
        if cfg["w_adversarial"] or cfg["w_reconstruction"]:
            with torch.no_grad():  # complete representations are targets, not trained through
                complete = self.encode(*inputs)
            loss = loss + self._auxiliary(out, complete, present(inputs[1])[:, 0], logs)
        logs["loss"] = float(loss.detach())
        return loss, logs

    def _auxiliary(self, out: dict, complete: list[torch.Tensor], has_text: torch.Tensor,
                   logs: dict) -> torch.Tensor:
        cfg = self.config
        rebuilt = [rec(out[k]) for rec, k in zip(self.reconstructors, ("h_l", "h_a", "h_v"), strict=True)]
        l_rec = nn.functional.mse_loss(torch.cat(rebuilt, 1), torch.cat(complete, 1))
        # discriminator: corrected language (class 1) vs complete language (class 0); the reversed
        # gradient pushes the correction (proxy generator, estimator, encoders) to look complete
        h_d = _GradReverse.apply(out["h_d"], cfg["grl_alpha"])
        logits = self.discriminator(torch.cat([h_d, complete[0]], dim=0)).flatten(0, 1)
        n = h_d.shape[0] * h_d.shape[1]
        target = torch.cat([torch.ones(n), torch.zeros(n)]).long().to(logits.device)
        weight = has_text.repeat_interleave(h_d.shape[1]).repeat(2)  # no "real language" without text
        ce = nn.functional.cross_entropy(logits, target, reduction="none")
        l_adv = (ce * weight).sum() / weight.sum().clamp(min=1.0)
        logs.update(adversarial=float(l_adv.detach()), reconstruction=float(l_rec.detach()))
        return cfg["w_adversarial"] * l_adv + cfg["w_reconstruction"] * l_rec


TINY = dict(d=64, n_tokens=8, heads=4, enc_depth=1, check_depth=1, proxy_depth=1, dmml_depth=2,
            fusion_depth=1)
SMALL = dict(d=128, n_tokens=8, heads=8, enc_depth=2, check_depth=1, proxy_depth=2, dmml_depth=3,
             fusion_depth=2)


@register_model("lnln_lite", {"tiny": TINY, "small": SMALL})
def lnln_lite(spec: FeatureSpec, **kwargs) -> LNLNLite:
    return LNLNLite(spec, **kwargs)
