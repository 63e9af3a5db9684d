"""`mmslf_student`: MMSLF's prompt-free student, small enough to ship (the product default).

    text   a small BERT cut from MiniLM-L6: its first `text_layers` layers at width 384 and a
           factorised vocabulary table (30522 x `text_emb_dim` from a frequency-weighted low-rank
           fit of MiniLM's table, then `text_emb_dim` -> 384), so the table does not dominate
    audio, vision  one strided conv each (`FrameEncoder`): 300 audio frames -> 30 slots
    fusion `n_fusion` tokens of width 64 over [null; text; audio; vision], 1-2 layers (the
           teacher's layout, so attention maps and fused tokens distil one to one)
No prompt input: `forward` takes exactly the six contract inputs.

`text_hidden` < 384 builds a narrower text encoder (`text_heads`, `text_ffn`) whose layers start
from scratch; only its factorised word table starts from MiniLM's SVD. That is what fits a
shipped default (<= 1.5M parameters, three bundles in 10 MB). `learned_vision=False` keeps the
vision frames out of the learned fusion (treated as absent there), so a model trained without
face labels gets its face signal from the expression prior alone.

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


# MiniLM uses BERT's uncased vocabulary: special tokens, [unused*] and single characters come
# first, then word pieces from id 1996 on, roughly in corpus-frequency order ("the", ",", ".", ...).
FIRST_WORDPIECE = 1996
SPECIAL_IDS = (0, 100, 101, 102, 103)  # [PAD] [UNK] [CLS] [SEP] [MASK]
ZIPF_OFFSET = 10.0


def token_weights(vocab: int) -> torch.Tensor:
    """Zipf-like importance of each token id (1 / (frequency rank + 10)) for the factorisation."""
    ids = torch.arange(vocab, dtype=torch.float32)
    w = torch.where(ids >= FIRST_WORDPIECE, 1.0 / (ids - FIRST_WORDPIECE + 1 + ZIPF_OFFSET),
                    torch.full_like(ids, 1.0 / (vocab + ZIPF_OFFSET)))
    w[list(SPECIAL_IDS)] = 1.0 / ZIPF_OFFSET
    return w


def factorise_table(table: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """table [V, H] ~ small [V, rank] @ proj [rank, H] + bias [H], frequent tokens weighted up.

    The rank-`rank` subspace is the top eigenvectors of the token-weighted covariance, and each
    row is its own projection onto it. A plain SVD spends the rank on thousands of rare tokens:
    on VADER sentences it keeps 0.65 cosine of MiniLM's 2nd-layer states at rank 96, the weighted
    version 0.86 (rank 128: 0.70 vs 0.89).
    """
    w = token_weights(table.shape[0])
    bias = (w[:, None] * table).sum(0) / w.sum()
    centred = table - bias
    _, vecs = torch.linalg.eigh(centred.T @ (w[:, None] * centred))
    basis = vecs[:, -rank:]  # [H, rank], eigenvalues ascending
    return centred @ basis, basis.T.contiguous(), bias


def student_text_encoder(vocab: int, max_len: int, layers: int, emb_dim: int, pretrained: bool = True,
                         hidden: int | None = None, heads: int | None = None,
                         ffn: int | None = None) -> TextEncoder:
    """A rank-`emb_dim` factorised word table (`factorise_table` of MiniLM's) and `layers` layers.

    At MiniLM's width (hidden None or 384) the layers, positions and norms are MiniLM's first
    `layers`; a narrower `hidden` (heads default hidden // 32, ffn 4 * hidden) starts its layers
    from scratch and only the word table from MiniLM.
    """
    hidden = hidden or MINILM["hidden"]
    cut = hidden == MINILM["hidden"]
    heads = heads or (MINILM["heads"] if cut else max(1, hidden // 32))
    ffn = ffn or (MINILM["ffn"] if cut else 4 * hidden)
    enc = TextEncoder(vocab=vocab, hidden=hidden, layers=layers, heads=heads, ffn=ffn, max_pos=max_len,
                      emb_dim=emb_dim)
    if not pretrained:
        return enc
    if vocab != MINILM["vocab"] or layers > MINILM["layers"] or emb_dim >= MINILM["hidden"]:
        raise UserError(f"cannot cut MiniLM into vocab {vocab}, {layers} layers, embedding {emb_dim}")
    if cut and (heads, ffn) != (MINILM["heads"], MINILM["ffn"]):
        raise UserError(f"a student at MiniLM's width keeps its {MINILM['heads']} heads, ffn {MINILM['ffn']}")
    src = minilm_encoder(layers if cut else 0).state_dict()
    small, proj, bias = factorise_table(src.pop("word.weight"), emb_dim)
    if not cut:
        with torch.no_grad():
            enc.word.weight.copy_(small)
            # BERT's init: nn.Embedding's N(0, 1) positions (norm ~11 at width 128) would drown the
            # MiniLM word rows (norm ~0.5) after the LayerNorm and the encoder learns no words
            enc.position.weight.normal_(0.0, 0.02)
        return enc
    src.update({"word.weight": small, "word_proj.weight": proj.T.contiguous(), "word_proj.bias": bias,
                "position.weight": src["position.weight"][:max_len]})
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
                 text_emb_dim: int = 128, head_hidden: int = 32, dropout: float = 0.1,
                 pretrained: bool = True, expression_prior: dict[str, float] | None = None,
                 prior_alpha: float = 1.0, text_hidden: int | None = None, text_heads: int | None = None,
                 text_ffn: int | None = None, learned_vision: bool = True) -> None:
        super().__init__(spec, dict(width=width, heads=heads, fusion_layers=fusion_layers,
                                    n_fusion=n_fusion, audio_stride=audio_stride,
                                    vision_stride=vision_stride, text_layers=text_layers,
                                    text_emb_dim=text_emb_dim, head_hidden=head_hidden, dropout=dropout,
                                    pretrained=pretrained, expression_prior=expression_prior,
                                    prior_alpha=prior_alpha, text_hidden=text_hidden,
                                    text_heads=text_heads, text_ffn=text_ffn,
                                    learned_vision=learned_vision))
        # ModalityInput's MiniLM (or feature) path, with the MiniLM swapped for the cut student
        self.text_in = ModalityInput(spec.text, width, text_layers=0, pretrained=False, dropout=dropout)
        if self.text_in.encoder is not None:
            self.text_in.encoder = student_text_encoder(spec.text.dim, spec.text.max_len, text_layers,
                                                        text_emb_dim, pretrained, text_hidden, text_heads,
                                                        text_ffn)
            if self.text_in.encoder.hidden != self.text_in.proj.in_features:
                self.text_in.proj = torch.nn.Linear(self.text_in.encoder.hidden, width)
        self.audio = FrameEncoder(spec.audio.dim, width, audio_stride)
        self.vision = FrameEncoder(spec.vision.dim, width, vision_stride)
        self.fusion = FusionTokens(width, n_fusion, fusion_layers, heads, dropout)
        self.head = ScoreHead(width, head_hidden, dropout)
        self.register_buffer("prior_w", prior_weights(spec.vision, expression_prior))
        self.prior_alpha = float(prior_alpha)
        self.vision_gate = 1.0 if learned_vision else 0.0  # a constant: 0 = vision absent for fusion

    @property
    def text_encoder(self) -> TextEncoder | None:
        return self.text_in.encoder

    def forward_features(self, text, text_mask, audio, audio_mask, vision,
                         vision_mask) -> dict[str, torch.Tensor]:
        t = self.text_in(text, text_mask)
        a, a_mask = self.audio(audio, audio_mask)
        v, v_mask = self.vision(vision, vision_mask)
        fused, attn = self.fusion([t, a, v], [text_mask, a_mask, v_mask * self.vision_gate])
        learned, uncertainty = self.head(fused.mean(1))
        # elementwise, not a matmul: int8 schemes that quantize MatMul leave the fixed prior exact
        prior = masked_mean((vision * self.prior_w).sum(-1, keepdim=True), vision_mask).squeeze(-1)
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
    # for tests: narrow text layers from scratch (the distiller maps their states up to 384)
    "test": {"width": 16, "heads": 2, "text_layers": 1, "text_emb_dim": 8, "text_hidden": 32, "text_heads": 2,
             "text_ffn": 64, "head_hidden": 8, "pretrained": False},
})
def mmslf_student(spec: FeatureSpec, **kwargs) -> MMSLFStudent:
    return MMSLFStudent(spec, **kwargs)
