"""`cyin_lite`: CyIN (cyclic informative latent space, NeurIPS 2025) for edge devices.

Exported forward (what runs on the device):
1. each modality -> `ModalityInput` -> a small Transformer with learnable prefix tokens
   (`PrefixEncoder`): every modality becomes `n_tokens` tokens whatever its frame count, so the
   token-level latents of the three modalities line up token by token (the paper average-pools
   the sequences to one length for the same reason);
2. token-level information bottleneck: per modality a Gaussian latent, mean and log-variance
   heads; inference uses the mean (training samples it);
3. cross-modal translation: small per-direction translators rebuild one modality's latent from
   another's; the rebuilt latent of modality m is the mean of the translations from the PRESENT
   other modalities. An absent modality (mask all zero) uses its rebuilt latent instead of its own:
   z_m <- p_m * z_m + (1 - p_m) * rebuilt_m with p_m the presence flag, arithmetic on masks only;
4. fusion: the three latents (a learned "rebuilt" embedding marks a translated one) go through a
   small Transformer over the 3 x n_tokens tokens, then mean pooling and a score head whose second
   output is the predicted absolute error (`edge_msa.models.heads`).

Training only (`training_loss`, never in the exported graph): the reparameterised sample of each
latent and its KL term to N(0, I); the cyclic token-level IB: every decoder rebuilds ITS
modality's tokens from every present modality's latent (the information shared among modalities
is what survives the bottleneck); the label-level IB: per-modality label heads on the pooled
latents; the forward translation loss (s -> d against d's latent) and the reverse cycle loss
(s -> d -> s against s's latent) on samples where both are present. Translation targets are
detached: with gradients into the target the loss is minimised by shrinking every latent alike.
As in the paper's generation stage, the fusion is trained on translated latents too: per sample
and modality with probability `swap_prob` the latent is replaced by its translation (at least
one real latent kept), on top of LNLN's random token/frame drop (`corrupt_for_training`).
"""

from __future__ import annotations

import torch
from torch import nn

from edge_msa.features.spec import FeatureSpec
from edge_msa.models.base import MSAModel
from edge_msa.models.blocks import (
    InputsTextEncoder,
    PrefixEncoder,
    TransformerLayer,
    corrupt_for_training,
    modality_inputs,
    present,
)
from edge_msa.models.heads import ScoreHead, score_error_loss
from edge_msa.models.registry import register_model

MODS = ("t", "a", "v")
PAIRS = tuple((s, d) for s in range(3) for d in range(3) if s != d)  # translation directions


class Translator(nn.Module):
    """Token-wise residual MLP from one modality's latent to another's ([B, n, z] -> [B, n, z]).

    Residual: the IB terms pull every latent into one shared space, so identity is the prior."""

    def __init__(self, latent: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(latent), nn.Linear(latent, hidden), nn.GELU(),
                                 nn.Linear(hidden, latent))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.net(z)


class CyINLite(InputsTextEncoder, MSAModel):
    def __init__(self, spec: FeatureSpec, d: int = 128, latent: int = 64, n_tokens: int = 8, heads: int = 8,
                 ffn: int | None = None, enc_depth: int = 2, fusion_depth: int = 2,
                 translator_hidden: int | None = None, dropout: float = 0.1, text_layers: int = 6,
                 pretrained: bool = True, freeze_text: bool = False, w_kl: float = 0.01,
                 w_decode: float = 0.1, w_label: float = 0.1, w_translate: float = 1.0, w_cycle: float = 0.5,
                 swap_prob: float = 0.3, max_rate: float = 1.0, complete_frac: float = 0.5) -> None:
        config = {k: v for k, v in locals().items() if k not in ("self", "spec", "__class__")}
        super().__init__(spec, config)
        ffn = ffn or 2 * d
        hidden = translator_hidden or 2 * latent
        self.inputs = modality_inputs(spec, d, text_layers=text_layers, pretrained=pretrained,
                                      freeze=freeze_text, dropout=dropout)
        self.encoders = nn.ModuleList(PrefixEncoder(d, n_tokens, enc_depth, heads, ffn, dropout)
                                      for _ in range(3))
        self.bottleneck = nn.ModuleList(nn.Linear(d, 2 * latent) for _ in range(3))  # mean | log-variance
        self.translators = nn.ModuleDict({f"{MODS[s]}2{MODS[d_]}": Translator(latent, hidden)
                                          for s, d_ in PAIRS})
        self.up = nn.Linear(latent, d)
        self.type_embed = nn.Parameter(torch.randn(3, d) * 0.02)
        self.rebuilt_embed = nn.Parameter(torch.randn(d) * 0.02)
        self.fusion = nn.ModuleList(TransformerLayer(d, heads, ffn, dropout) for _ in range(fusion_depth))
        self.norm = nn.LayerNorm(d)
        self.head = ScoreHead(d, d, dropout)
        # training only: never called by forward, so never exported
        self.decoders = nn.ModuleList(
            nn.Sequential(nn.Linear(latent, hidden), nn.GELU(), nn.Linear(hidden, d)) for _ in range(3))
        self.label_heads = nn.ModuleList(nn.Linear(latent, 1) for _ in range(3))

    def encode(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        """-> tokens [h_t, h_a, h_v] (each [B, n, d]), means and log-variances (each [B, n, z]),
        presence flags p [B, 3]."""
        pairs = ((text, text_mask), (audio, audio_mask), (vision, vision_mask))
        hs, mus, logvars = [], [], []
        for inp, enc, ib, (x, m) in zip(self.inputs, self.encoders, self.bottleneck, pairs, strict=True):
            h = enc(inp(x, m), m)
            mu, logvar = ib(h).chunk(2, dim=-1)
            hs.append(h)
            mus.append(mu)
            logvars.append(logvar)
        p = torch.cat([present(text_mask), present(audio_mask), present(vision_mask)], dim=1)
        return hs, mus, logvars, p

    def translate(self, z: list[torch.Tensor]) -> dict[tuple[int, int], torch.Tensor]:
        """Every direction s -> d: {(s, d): latent of d rebuilt from s's latent}."""
        return {(s, d): self.translators[f"{MODS[s]}2{MODS[d]}"](z[s]) for s, d in PAIRS}

    @staticmethod
    def rebuild(moved: dict[tuple[int, int], torch.Tensor], p: torch.Tensor) -> list[torch.Tensor]:
        """Latent of each modality rebuilt as the mean of its translations from the present others
        (0 when no other modality is present)."""
        out = []
        for d in range(3):
            srcs = [s for s in range(3) if s != d]
            w = [p[:, s, None, None] for s in srcs]
            total = sum(wi * moved[(s, d)] for wi, s in zip(w, srcs, strict=True))
            out.append(total / (w[0] + w[1]).clamp(min=1.0))
        return out

    def fuse(self, z: list[torch.Tensor], use_own: torch.Tensor):
        """z: latents each [B, n, z]; use_own [B, 3]: 1 keeps the own latent, 0 the rebuilt one."""
        tokens = [self.up(zm) + self.type_embed[m] + (1.0 - use_own[:, m, None, None]) * self.rebuilt_embed
                  for m, zm in enumerate(z)]
        h = torch.cat(tokens, dim=1)
        for layer in self.fusion:
            h = layer(h)
        return self.head(self.norm(h).mean(1))

    def parts(self, text, text_mask, audio, audio_mask, vision, vision_mask, *, sample: bool = False,
              use_own: torch.Tensor | None = None) -> dict:
        """The whole forward pass with its intermediate results (forward returns two of them).

        sample: draw the latents (training) instead of taking their means; use_own [B, 3]: which
        latents to keep (default: the present modalities', so absent ones are rebuilt)."""
        hs, mus, logvars, p = self.encode(text, text_mask, audio, audio_mask, vision, vision_mask)
        z = [mu + torch.randn_like(mu) * (0.5 * lv).exp() for mu, lv in zip(mus, logvars, strict=True)] \
            if sample else mus
        moved = self.translate(z)
        rebuilt = self.rebuild(moved, p)
        keep = p if use_own is None else use_own
        used = [keep[:, m, None, None] * z[m] + (1.0 - keep[:, m, None, None]) * rebuilt[m] for m in range(3)]
        score, uncertainty = self.fuse(used, keep)
        return {"score": score, "uncertainty": uncertainty, "h": hs, "mu": mus, "logvar": logvars, "z": z,
                "p": p, "moved": moved, "rebuilt": rebuilt, "used": used}

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        out = self.parts(text, text_mask, audio, audio_mask, vision, vision_mask)
        return out["score"], out["uncertainty"]

    def training_loss(self, inputs, labels):
        cfg = self.config
        if self.training:
            inputs, _ = corrupt_for_training(inputs, cfg["max_rate"], cfg["complete_frac"], 0.0)
        p = torch.cat([present(inputs[i]) for i in (1, 3, 5)], dim=1)
        out = self.parts(*inputs, sample=self.training, use_own=self._swap(p) if self.training else None)
        loss, logs = score_error_loss(out["score"], out["uncertainty"], labels)
        logs = {"sentiment": logs["loss"], "mae": logs["mae"]}
        terms = {"kl": self._kl(out), "decode": self._decode(out), "label": self._label(out, labels),
                 "translate": self._translate(out), "cycle": self._cycle(out)}
        for name, value in terms.items():
            loss = loss + cfg[f"w_{name}"] * value
            logs[name] = float(value.detach())
        logs["loss"] = float(loss.detach())
        return loss, logs

    def _swap(self, p: torch.Tensor) -> torch.Tensor:
        """Which latents the fusion keeps: present ones, minus a random `swap_prob` share replaced by
        their translation, never all of a sample's present ones."""
        lost = (torch.rand(p.shape, device=p.device) < self.config["swap_prob"]) & (p > 0)
        lost &= ~(lost | (p == 0)).all(dim=1, keepdim=True)
        return p * (~lost).to(p.dtype)

    @staticmethod
    def _weighted(per_sample: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (per_sample * w).sum() / w.sum().clamp(min=1.0)

    def _kl(self, out: dict) -> torch.Tensor:
        """KL(N(mu, sigma) || N(0, I)) per latent dimension, mean over present modalities."""
        kls = [-0.5 * (1 + lv - mu.pow(2) - lv.exp()).mean(dim=(1, 2))
               for mu, lv in zip(out["mu"], out["logvar"], strict=True)]
        return self._weighted(torch.stack(kls, 1), out["p"])

    def _decode(self, out: dict) -> torch.Tensor:
        """Cyclic token-level IB: each decoder rebuilds its modality's tokens from every latent."""
        terms, weights = [], []
        for d, dec in enumerate(self.decoders):
            target = out["h"][d].detach()
            for s in range(3):
                terms.append((dec(out["z"][s]) - target).pow(2).mean(dim=(1, 2)))
                weights.append(out["p"][:, s] * out["p"][:, d])
        return self._weighted(torch.stack(terms, 1), torch.stack(weights, 1))

    def _label(self, out: dict, labels: torch.Tensor) -> torch.Tensor:
        """Label-level IB: each present modality's pooled latent predicts the label."""
        errs = [(head(z.mean(1))[:, 0] - labels).abs()
                for head, z in zip(self.label_heads, out["z"], strict=True)]
        return self._weighted(torch.stack(errs, 1), out["p"])

    def _pair_loss(self, out: dict, pred: dict[tuple[int, int], torch.Tensor], target_of) -> torch.Tensor:
        p = out["p"]
        errs = [(pred[(s, d)] - out["z"][target_of(s, d)].detach()).pow(2).mean(dim=(1, 2)) for s, d in PAIRS]
        w = [p[:, s] * p[:, d] for s, d in PAIRS]
        return self._weighted(torch.stack(errs, 1), torch.stack(w, 1))

    def _translate(self, out: dict) -> torch.Tensor:
        """Forward translation s -> d against d's own latent."""
        return self._pair_loss(out, out["moved"], lambda s, d: d)

    def _cycle(self, out: dict) -> torch.Tensor:
        """Reverse translation s -> d -> s against s's own latent (cycle consistency)."""
        back = {(s, d): self.translators[f"{MODS[d]}2{MODS[s]}"](out["moved"][(s, d)]) for s, d in PAIRS}
        return self._pair_loss(out, back, lambda s, d: s)


TINY = dict(d=64, latent=32, n_tokens=8, heads=4, enc_depth=1, fusion_depth=1)
SMALL = dict(d=128, latent=64, n_tokens=8, heads=8, enc_depth=2, fusion_depth=2)
# for tests: narrow, one MiniLM layer from scratch
TEST = dict(d=32, latent=16, n_tokens=4, heads=2, enc_depth=1, fusion_depth=1, text_layers=1,
            pretrained=False)


@register_model("cyin_lite", {"tiny": TINY, "small": SMALL, "test": TEST})
def cyin_lite(spec: FeatureSpec, **kwargs) -> CyINLite:
    return CyINLite(spec, **kwargs)
