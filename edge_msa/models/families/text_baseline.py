"""`text_baseline`: the packaged MiniLM-L6, masked mean pooling, a small regression head.

Text only: audio and vision are accepted (the contract's six inputs) and ignored. With a
`features:*` text spec (e.g. MMSA's precomputed BERT-768 vectors) the encoder is skipped and the
head reads the features directly. The uncertainty output is the predicted absolute error
(`edge_msa.models.heads`).
"""

from __future__ import annotations

from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.models.base import MSAModel
from edge_msa.models.heads import ScoreHead, masked_mean, score_error_loss
from edge_msa.models.registry import register_model
from edge_msa.models.text_encoder import minilm_encoder

TOKEN_KIND = "tokens:minilm-l6"


class TextBaseline(MSAModel):
    def __init__(self, spec: FeatureSpec, layers: int = 6, hidden: int = 128, dropout: float = 0.1,
                 pretrained: bool = True) -> None:
        super().__init__(spec, dict(layers=layers, hidden=hidden, dropout=dropout, pretrained=pretrained))
        kind = spec.text.kind
        if kind == TOKEN_KIND:
            self.text_encoder = minilm_encoder(layers, pretrained=pretrained)
            width = self.text_encoder.hidden
        elif kind.startswith("features:"):
            self.text_encoder = None
            width = spec.text.dim
        else:
            raise UserError(f"text_baseline reads {TOKEN_KIND!r} or 'features:*' text, not {kind!r}")
        self.head = ScoreHead(width, hidden, dropout)

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        frames = text if self.text_encoder is None else self.text_encoder(text, text_mask)
        return self.head(masked_mean(frames, text_mask))

    def training_loss(self, inputs, labels):
        return score_error_loss(*self(*inputs), labels)


@register_model("text_baseline", {"l2": {"layers": 2}, "l6": {"layers": 6}})
def text_baseline(spec: FeatureSpec, **kwargs) -> TextBaseline:
    return TextBaseline(spec, **kwargs)
