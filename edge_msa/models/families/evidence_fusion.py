"""`evidence_fusion`: one expert per modality, and the fused score is the sum of their evidence.

Why late fusion: no corpus here has two modalities of the same person labelled together (text rows
are VADER and MELD sentences, voice rows are EmoDB speech, faces have no labels), so no fusion
weights between modalities can be learned from data. Each expert is fitted on its own labelled
data to predict sentiment on the MOSI scale, and the fused score adds what the present experts say,
as log-odds of independent evidence add (a naive-Bayes combination around a neutral prior).
Two graphs (`fusion`):
    bounded  (the shipped tiers, and every new fit) the score an app reads from the exported graph is
             the runtime's calibrated rule for a person with no history (`runtime/fusion_rule.py`,
             `docs/calibration.md`): the voice read against English narration (`voice_centre`,
             measured by the fit), the face relative to neutral (sum_c valence_c * max(0, P_c -
             P_neutral)), and the evidence fused by reliability, bounded by tanh, with an uncertainty
             that grows when the experts disagree:
                 r_m = w_m / max_k w_k, w_m = confidence_m / err_m^2
                 score = 3 tanh(sum_m r_m e_m / 3)
             The text's confidence is the text mask's height (max over tokens, 0.05..1): an app
             multiplies the mask by its recogniser's confidence (1 when it has none); voice and
             face count 1 (`text_confidence`, on for every bounded fit since 2026-12-07).
    sum      (weights fitted before the bounded graph load as this) the evidence added and clipped:
                 score = clamp(sum_m present_m * evidence_m, -3, 3)
Either way a clearly negative voice moves the score when text and face are silent or unsure.

    text   a frozen sentence encoder (the packaged MiniLM-L6, or its first layers over a factorised
           word table for small tiers) -> masked mean over tokens, plus an in-graph lexicon score
           (valences of single-token words of VADER's lexicon, flipped after a negator within
           NEGATION_WINDOW tokens, squashed like VADER's compound) -> one linear layer.
    voice  statistics of the utterance that a constant offset cannot change (the spread over
           voiced frames and the spread of frame-to-frame changes of each log-mel band and of log
           energy, the spread and the changes of log pitch) -> standardised
           -> linear layer over EmoDB's valence levels -> expected valence. A microphone's colour
           and gain, a speaker's vocal tract and pitch level shift the frames but not these.
    face   the expression classifier's probabilities (vision channels `expression_*`), averaged
           over frames with a face, times a valence per expression class (a table written as data).
Fitted in closed form (`edge_msa.train.experts`), not by gradient steps: ridge for text, weighted
multinomial logistic regression for voice. `uncertainty` combines the experts' validation errors
as precisions, 1 / sqrt(1 / PRIOR_STD^2 + sum_m present_m / err_m^2); the bounded graph adds the
experts' weighted spread to that variance.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.models.base import MSAModel
from edge_msa.models.heads import masked_mean, present
from edge_msa.models.registry import register_model
from edge_msa.models.text_encoder import MINILM, minilm_encoder

# EmoDB's valence levels (edge_msa.data.emodb.VALENCE) but boredom's -0.5: the fit leaves boredom
# out, because acted boredom is flat, calm speech, which is what calm live speech (narration, a
# meeting) sounds like, and calling that negative would make every quiet speaker negative.
VOICE_LEVELS = (-1.0, 0.0, 1.0)
MEL_BANDS = 40
PITCH, ENERGY = 40, 41  # channels of `audio:logmel-40-pitch-energy`; pitch 0 = unvoiced
VOICE_STATS = 2 * (MEL_BANDS + 1) + 2
MIN_VOICED = 3  # fewer voiced frames than this: the spread is taken over all present frames
NEGATION_WINDOW = 4  # tokens: "don ' t like" puts the word 3 tokens after the negator's stem
VADER_ALPHA = 15.0  # VADER's compound normalisation s / sqrt(s^2 + alpha)
NEGATION_SCALAR = -0.74  # VADER's N_SCALAR
PRIOR_STD = 1.5  # spread of sentiment on the MOSI scale when no modality is present
# the least weight a present transcript keeps (runtime/fusion_rule.MIN_CONFIDENCE; a test pins them)
MIN_CONFIDENCE = 0.05
SCORE_BOUND = 3.0  # the MOSI scale's bound
EXPRESSION_PREFIX = "expression_"
FUSIONS = ("bounded", "sum")


def masked_std(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T, D], [B, T] -> [B, D] standard deviation over present frames (0 when none)."""
    mean = masked_mean(x, mask)
    return (masked_mean((x - mean.unsqueeze(1)) ** 2, mask) + 1e-6).sqrt()


class VoiceStats(nn.Module):
    """audio [B, T, 42] + mask [B, T] -> [B, VOICE_STATS] offset-invariant statistics of voiced frames.

    Only voiced frames (pitch > 0) and pairs of consecutive voiced frames count, so the silence a
    file or a VAD window keeps around the speech changes nothing; with fewer than MIN_VOICED voiced
    frames every present frame counts instead.
    """

    def forward(self, audio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        frames = torch.cat([audio[..., :MEL_BANDS], audio[..., ENERGY:ENERGY + 1]], dim=-1)
        pitch = audio[..., PITCH:PITCH + 1]
        voiced = (pitch.squeeze(-1) > 0).to(mask.dtype) * mask
        enough = (voiced.sum(1, keepdim=True) >= MIN_VOICED).to(mask.dtype)
        use = enough * voiced + (1.0 - enough) * mask
        pairs = use[:, 1:] * use[:, :-1]
        return torch.cat([
            masked_std(frames, use),
            masked_std(frames[:, 1:] - frames[:, :-1], pairs),
            masked_std(pitch, voiced),
            masked_std(pitch[:, 1:] - pitch[:, :-1], voiced[:, 1:] * voiced[:, :-1]),
        ], dim=-1)


class VoiceExpert(nn.Module):
    """statistics -> standardised -> logits over VOICE_LEVELS -> expected valence x `scale`."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.stats = VoiceStats()
        self.register_buffer("mean", torch.zeros(VOICE_STATS))
        self.register_buffer("std", torch.ones(VOICE_STATS))
        self.register_buffer("levels", torch.tensor(VOICE_LEVELS) * scale)
        self.logits = nn.Linear(VOICE_STATS, len(VOICE_LEVELS))

    def features(self, audio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (self.stats(audio, mask) - self.mean) / self.std

    def forward(self, audio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        probs = self.logits(self.features(audio, mask)).softmax(-1)
        return (probs * self.levels).sum(-1)


class LexiconScore(nn.Module):
    """token ids [B, T] + mask -> [B, 1]: VADER-style compound of per-token valences, in the graph.

    The tables are buffers, zero until `edge_msa.train.experts` fills them from VADER's lexicon
    (MIT) through the model's own tokenizer; only words that are one WordPiece token take part.
    """

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.register_buffer("valence", torch.zeros(vocab))
        self.register_buffer("negator", torch.zeros(vocab))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        valence = self.valence[ids] * mask
        negator = self.negator[ids] * mask
        padded = nn.functional.pad(negator, (NEGATION_WINDOW, 0))
        t = ids.shape[1]
        negated = torch.stack([padded[:, NEGATION_WINDOW - k: NEGATION_WINDOW - k + t]
                               for k in range(1, NEGATION_WINDOW + 1)]).amax(0)
        valence = valence * (1.0 + (NEGATION_SCALAR - 1.0) * negated)
        s = valence.sum(1, keepdim=True)
        return s / (s * s + VADER_ALPHA).sqrt()


class TextExpert(nn.Module):
    """A frozen encoder's mean-pooled states and the lexicon score -> one linear layer."""

    def __init__(self, spec_vocab: int, max_len: int, layers: int, emb_dim: int | None,
                 pretrained: bool) -> None:
        super().__init__()
        if emb_dim is None:
            self.encoder = minilm_encoder(layers, pretrained)
        else:
            from edge_msa.models.families.mmslf_student import student_text_encoder

            self.encoder = student_text_encoder(spec_vocab, max_len, layers, emb_dim, pretrained)
        self.encoder.requires_grad_(False)
        self.lexicon = LexiconScore(spec_vocab)
        self.head = nn.Linear(MINILM["hidden"] + 1, 1)

    def features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = masked_mean(self.encoder(ids, mask), mask)
        return torch.cat([pooled, self.lexicon(ids, mask)], dim=-1)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(ids, mask)).squeeze(-1)


def expression_weights(spec: FeatureSpec, valence: dict[str, float] | None) -> torch.Tensor:
    """The face table as a weight per vision channel: `expression_<class>` channels get its valence
    (the same channel-name -> weight mapping as mmslf_student's expression prior)."""
    from edge_msa.models.families.mmslf_student import prior_weights, vision_channel_names

    if not valence:
        return torch.zeros(spec.vision.dim)
    names = vision_channel_names(spec.vision)
    known = [n.removeprefix(EXPRESSION_PREFIX) for n in names if n.startswith(EXPRESSION_PREFIX)]
    for cls in valence:
        if cls not in known:
            raise UserError(f"face valence table names unknown expression {cls!r}; known: {', '.join(known)}")
    return prior_weights(spec.vision, {EXPRESSION_PREFIX + c: v for c, v in valence.items()})


def neutral_channel(spec: FeatureSpec, valence: dict[str, float] | None) -> torch.Tensor:
    """A one-hot weight on the `expression_neutral` vision channel (zeros without a face table)."""
    if not valence:
        return torch.zeros(spec.vision.dim)
    return expression_weights(spec, {"neutral": 1.0})


def bounded_fusion(evidence: torch.Tensor, precision: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, 3] evidence, [B, 3] precisions (0 = absent) -> (score [B], uncertainty [B]).

    The graph's twin of `runtime/fusion_rule.fuse` (the layers run one way, so the runtime cannot
    import this; `tests/test_calibration.py` checks the two agree): reliabilities relative to the
    most reliable present expert, a tanh-bounded weighted sum, and the Gaussian posterior's variance
    widened by the experts' weighted spread. No modality present: (0, PRIOR_STD)."""
    rel = precision / precision.amax(-1, keepdim=True).clamp_min(1e-12)
    total = (rel * evidence).sum(-1)
    weight = rel.sum(-1).clamp_min(1e-12)
    mean = total / weight
    spread = (rel * (evidence - mean.unsqueeze(-1)) ** 2).sum(-1) / weight
    posterior = 1.0 / (1.0 / PRIOR_STD ** 2 + precision.sum(-1))
    return SCORE_BOUND * torch.tanh(total / SCORE_BOUND), (posterior + spread).sqrt()


class EvidenceFusion(MSAModel):
    def __init__(self, spec: FeatureSpec, text_layers: int = 6, text_emb_dim: int | None = None,
                 voice_scale: float = 2.0, face_valence: dict[str, float] | None = None,
                 pretrained: bool = True, fusion: str = "bounded", text_confidence: bool = True) -> None:
        if fusion not in FUSIONS:
            raise UserError(f"evidence_fusion's fusion is one of {', '.join(FUSIONS)}, not {fusion!r}")
        # the bounded graph reads the recogniser's confidence as the text mask's height (only a
        # graph that records text_confidence in its manifest gets a mask below 1 from the runtime)
        text_confidence = bool(text_confidence) and fusion == "bounded"
        super().__init__(spec, dict(text_layers=text_layers, text_emb_dim=text_emb_dim,
                                    voice_scale=voice_scale, face_valence=face_valence,
                                    pretrained=pretrained, fusion=fusion, text_confidence=text_confidence))
        self.fusion, self.text_confidence = fusion, text_confidence
        if not spec.text.is_tokens:
            raise UserError(f"evidence_fusion reads MiniLM token ids, not {spec.text.kind!r}")
        if spec.audio.dim <= ENERGY:
            raise UserError(f"evidence_fusion reads log-mel + pitch + energy frames, not {spec.audio.kind!r}")
        self.text = TextExpert(spec.text.dim, spec.text.max_len, text_layers, text_emb_dim, pretrained)
        self.voice = VoiceExpert(voice_scale)
        self.register_buffer("face_w", expression_weights(spec, face_valence))
        # derived from the spec, not learned: not part of the saved weights
        self.register_buffer("face_neutral", neutral_channel(spec, face_valence), persistent=False)
        # validation errors of each expert (text, voice, face), set by the fit
        self.register_buffer("expert_error", torch.full((3,), PRIOR_STD))
        # the voice expert's mean on calm English narration, set by the fit (bounded graph only)
        self.register_buffer("voice_centre", torch.zeros(()))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        key = prefix + "voice_centre"
        if key not in state_dict:
            # weights saved before the bounded graph existed: they load as the summed graph they
            # were fitted and exported as, so an old run re-exports to the same outputs
            self.fusion = self.config["fusion"] = "sum"
            self.text_confidence = self.config["text_confidence"] = False
            state_dict[key] = torch.zeros(())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def text_encoder(self):
        return self.text.encoder

    def evidence(self, text, text_mask, audio, audio_mask, vision,
                 vision_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """([B, 3] evidence of text, voice, face; [B, 3] presence flags)."""
        # the words are read from the tokens present; how far the mask rises below 1 is the
        # recogniser's confidence, which weighs the text in the fusion, not what it says
        text_mask = (text_mask > 0).to(text_mask.dtype)
        voice = self.voice(audio, audio_mask)
        if self.fusion == "bounded":
            # the runtime's face mapping (runtime/face_calibration.frame_evidence): each expression
            # counts by how much the classifier prefers it to neutral
            neutral = (vision * self.face_neutral).sum(-1, keepdim=True)
            frames = (torch.relu(vision - neutral) * self.face_w).sum(-1, keepdim=True)
            voice = voice - self.voice_centre
        else:
            frames = (vision * self.face_w).sum(-1, keepdim=True)
        face = masked_mean(frames, vision_mask).squeeze(-1)
        ev = torch.stack([self.text(text, text_mask), voice, face], dim=-1)
        flags = torch.cat([present(text_mask), present(audio_mask), present(vision_mask)], dim=-1)
        return ev, flags

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        ev, flags = self.evidence(text, text_mask, audio, audio_mask, vision, vision_mask)
        if self.fusion == "bounded":
            if self.text_confidence:
                confidence = text_mask.amax(1, keepdim=True).clamp(MIN_CONFIDENCE, 1.0)
                flags = flags * torch.cat([confidence, torch.ones_like(flags[:, 1:])], dim=-1)
            return bounded_fusion(ev, flags / self.expert_error ** 2)
        score = (ev * flags).sum(-1).clamp(-SCORE_BOUND, SCORE_BOUND)
        precision = (flags / self.expert_error ** 2).sum(-1) + 1.0 / PRIOR_STD ** 2
        return score, precision.rsqrt()


@register_model("evidence_fusion", {
    "default": {},  # the packaged MiniLM-L6, all 6 layers, frozen
    "nano": {"text_layers": 2, "text_emb_dim": 64},  # first 2 layers over a rank-64 word table
    "test": {"text_layers": 1, "text_emb_dim": 8, "pretrained": False},
})
def evidence_fusion(spec: FeatureSpec, **kwargs) -> EvidenceFusion:
    return EvidenceFusion(spec, **kwargs)
