"""`mmslf_student`: MMSLF's prompt-free student, small enough to ship (the product default).

    text   a small BERT cut from MiniLM-L6: its first `text_layers` layers at width 384 and a
           factorised vocabulary table (30522 x `text_emb_dim`, from a truncated SVD of MiniLM's
           table, then `text_emb_dim` -> 384), so the table does not dominate the file
    audio, vision  one strided conv each (`FrameEncoder`): 300 audio frames -> 30 slots
    fusion `n_fusion` tokens of width 64 over [null; text; audio; vision], 1-2 layers (the
           teacher's layout, so attention maps and fused tokens distil one to one)
No prompt input: `forward` takes exactly the six contract inputs.

Expression prior (optional, fixed): `expression_prior` maps named vision channels (blendshape
names from `edge_msa.features.face`, e.g. {"mouthSmileLeft": 1.5, "browDownLeft": -0.8}) to
weights. It is a buffer (not trained) and adds `prior_alpha * mean_t(vision_t . w)` to the
learned score, over present vision frames only, so a row without a face gets the learned score
from text and audio unchanged:
    score = learned(text, audio, vision) + prior_alpha * present(vision) * prior(vision)
"""

from __future__ import annotations

import torch

from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec, ModalitySpec
from edge_msa.models.base import MSAModel
from edge_msa.models.blocks import ModalityInput, masked_mean, present
from edge_msa.models.families.mmslf import FrameEncoder, FusionTokens
from edge_msa.models.heads import ScoreHead, score_error_loss
from edge_msa.models.registry import register_model
from edge_msa.models.text_encoder import MINILM, TextEncoder, minilm_encoder

BLENDSHAPE_KIND_PREFIX = "vision:blendshapes"


def student_text_encoder(vocab: int, max_len: int, layers: int, emb_dim: int,
                         pretrained: bool = True) -> TextEncoder:
    """MiniLM's first `layers` layers with a rank-`emb_dim` factorised word table.

    The table is centred, then truncated-SVD'd: word = U_k S_k, projection = V_k, bias = the
    mean row, which is the best rank-k approximation of MiniLM's embeddings (Eckart-Young).
    """
    enc = TextEncoder(**{**MINILM, "vocab": vocab, "layers": layers, "max_pos": max_len,
                         "emb_dim": emb_dim})
    if not pretrained:
        return enc
    if vocab != MINILM["vocab"] or layers > MINILM["layers"] or emb_dim >= MINILM["hidden"]:
        raise UserError(f"cannot cut MiniLM into vocab {vocab}, {layers} layers, embedding {emb_dim}")
    src = minilm_encoder(layers).state_dict()
    table = src.pop("word.weight")
    mean = table.mean(0)
    u, s, vh = torch.linalg.svd(table - mean, full_matrices=False)
    src["word.weight"] = u[:, :emb_dim] * s[:emb_dim]
    src["word_proj.weight"] = vh[:emb_dim].T.contiguous()
    src["word_proj.bias"] = mean
    src["position.weight"] = src["position.weight"][:max_len]
    enc.load_state_dict(src)
    return enc


def vision_channel_names(vision: ModalitySpec) -> list[str]:
    """Names of the vision channels (blendshapes then head pose) for the live blendshape spec."""
    if not vision.kind.startswith(BLENDSHAPE_KIND_PREFIX):
        raise UserError(f"an expression prior needs blendshape vision features, not {vision.kind!r}")
    from edge_msa.features.face import FEATURE_NAMES

    names = list(FEATURE_NAMES)
    if len(names) != vision.dim:
        raise UserError(f"vision spec {vision.kind!r} has {vision.dim} channels but the face "
                        f"featurizer names {len(names)}")
    return names


def prior_weights(vision: ModalitySpec, prior: dict[str, float] | None) -> torch.Tensor:
    """The prior as a weight vector over vision channels (zeros when there is no prior)."""
    w = torch.zeros(vision.dim)
    if not prior:
        return w
    names = vision_channel_names(vision)
    unknown = sorted(set(prior) - set(names))
    if unknown:
        raise UserError(f"expression prior names unknown channels {unknown}; known: {', '.join(names)}")
    for name, weight in prior.items():
        w[names.index(name)] = float(weight)
    return w


class MMSLFStudent(MSAModel):
    def __init__(self, spec: FeatureSpec, width: int = 64, heads: int = 4, fusion_layers: int = 1,
                 n_fusion: int = 4, audio_stride: int = 10, vision_stride: int = 3, text_layers: int = 2,
                 text_emb_dim: int = 96, head_hidden: int = 32, dropout: float = 0.1,
                 pretrained: bool = True, expression_prior: dict[str, float] | None = None,
                 prior_alpha: float = 1.0) -> None:
        super().__init__(spec, dict(width=width, heads=heads, fusion_layers=fusion_layers,
                                    n_fusion=n_fusion, audio_stride=audio_stride,
                                    vision_stride=vision_stride, text_layers=text_layers,
                                    text_emb_dim=text_emb_dim, head_hidden=head_hidden, dropout=dropout,
                                    pretrained=pretrained, expression_prior=expression_prior,
                                    prior_alpha=prior_alpha))
        # ModalityInput's MiniLM (or feature) path, with the MiniLM swapped for the cut student
        self.text_in = ModalityInput(spec.text, width, text_layers=0, pretrained=False, dropout=dropout)
        if self.text_in.encoder is not None:
            self.text_in.encoder = student_text_encoder(spec.text.dim, spec.text.max_len, text_layers,
                                                        text_emb_dim, pretrained)
        self.audio = FrameEncoder(spec.audio.dim, width, audio_stride)
        self.vision = FrameEncoder(spec.vision.dim, width, vision_stride)
        self.fusion = FusionTokens(width, n_fusion, fusion_layers, heads, dropout)
        self.head = ScoreHead(width, head_hidden, dropout)
        self.register_buffer("prior_w", prior_weights(spec.vision, expression_prior))
        self.prior_alpha = float(prior_alpha)

    @property
    def text_encoder(self) -> TextEncoder | None:
        return self.text_in.encoder

    def forward_features(self, text, text_mask, audio, audio_mask, vision,
                         vision_mask) -> dict[str, torch.Tensor]:
        t = self.text_in(text, text_mask)
        a, a_mask = self.audio(audio, audio_mask)
        v, v_mask = self.vision(vision, vision_mask)
        fused, attn = self.fusion([t, a, v], [text_mask, a_mask, v_mask])
        learned, uncertainty = self.head(fused.mean(1))
        prior = masked_mean(vision @ self.prior_w.unsqueeze(-1), vision_mask).squeeze(-1)
        score = learned + self.prior_alpha * present(vision_mask).squeeze(-1) * prior
        return {"score": score, "uncertainty": uncertainty, "fused": fused, "attention": attn,
                "learned": learned}

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        out = self.forward_features(text, text_mask, audio, audio_mask, vision, vision_mask)
        return out["score"], out["uncertainty"]

    def training_loss(self, inputs, labels):
        return score_error_loss(*self(*inputs), labels)


@register_model("mmslf_student", {
    "tiny": {},
    "small": {"text_layers": 3, "text_emb_dim": 64, "fusion_layers": 2},
    "test": {"width": 16, "heads": 2, "text_layers": 1, "text_emb_dim": 8, "head_hidden": 8,
             "pretrained": False},
})
def mmslf_student(spec: FeatureSpec, **kwargs) -> MMSLFStudent:
    return MMSLFStudent(spec, **kwargs)
