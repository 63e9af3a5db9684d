"""The runtime's calibrated path for `evidence_fusion` bundles: each expert's evidence measured on
its own, corrected by the person's baseline, then fused with the bounded rule (`fusion_rule`).

    text   the bundle run with only the text present; weighed by the recogniser's confidence
    voice  the Whisper voice expert on the utterance's encoder states, standardised by the
           speaker's running baseline (`runtime/voice_expert.py`) when the recogniser is Whisper;
           else the bundle run with only the voice present (log-mel statistics, nano/pocketsphinx)
    face   computed here from the window's expression probabilities and the bundle's valence
           table (the same linear expert as the graph's), neutral-referenced, minus the person's
           resting-face baseline (`face_calibration`)
Other families keep the fused score their graph computes (they were trained end to end).

Text and voice come from the graph run with one modality present. A bounded graph (the shipped
tiers' `fusion: bounded`) already reports that expert through the fusion rule, bound * tanh(e /
bound), with the voice centred on English narration; the reading here undoes the tanh, so the rule
is applied once, to the baseline-corrected evidence. A summed graph (older bundles) reports e as it
is, and its voice rests at LOGMEL_VOICE_CENTRE.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.runtime.events import SCALE_MAX
from edge_msa.runtime.face_calibration import expression_slice, frame_evidence, valence_vector
from edge_msa.runtime.fusion_rule import PRIOR_STD, Reading, error_from_uncertainty, fuse
from edge_msa.runtime.running_baseline import RunningBaseline

# Where an English speaker at rest sits on the shipped default's log-mel voice expert: its mean on
# the five LibriVox narration clips (calm read English, public domain), -0.55 in
# `bench/bench_voice_whisper.py`'s narration table (the same on the valid and test runs). The
# expert learned German studio speech (EmoDB): this centre is the prior of every person's voice
# baseline until their own utterances (or an enrolment) take over.
LOGMEL_VOICE_CENTRE = -0.55

Predict = Callable[[tuple[np.ndarray, ...]], tuple[float, float]]
MAX_TANH = 0.999  # an int8 graph's saturated reading inverts to 3 * atanh(0.999) = 11.4, not inf


def unbent(score, bound: float = 3.0):
    """The evidence e behind a bounded graph's one-expert reading bound * tanh(e / bound) (a float
    or an array)."""
    return bound * np.arctanh(np.clip(np.asarray(score, float) / bound, -MAX_TANH, MAX_TANH))


def load_voice_expert():
    """The shipped Whisper voice expert, or None where its weights or module are not installed."""
    try:
        from edge_msa.runtime.voice_expert import WhisperVoiceExpert

        return WhisperVoiceExpert.load()
    except (ImportError, UserError):  # absent or unreadable weights: the bundle's voice stays
        return None


@dataclass
class PersonBaselines:
    """One person's baselines for a run (or an enrolled API model).

    running: update the baselines from every event (live runs); False for one utterance or one
    image, where only an enrolment moves them."""

    face: RunningBaseline = field(default_factory=lambda: RunningBaseline(50, 600, 10.0))
    # the log-mel voice expert's evidence per utterance, centred on English read speech
    logmel_voice: RunningBaseline = field(
        default_factory=lambda: RunningBaseline(3, 30, 120.0, prior=LOGMEL_VOICE_CENTRE))
    voice: object | None = None  # runtime.voice_expert.SpeakerBaseline, when the Whisper expert runs
    whisper_voice: bool = False  # score the voice with the Whisper expert when the recogniser is Whisper
    running: bool = True
    enrol_until_s: float = 0.0  # a run's first seconds that enrol (0: no enrolment)
    _enrol_face: list[np.ndarray] = field(default_factory=list)
    _enrol_voice: list[np.ndarray] = field(default_factory=list)
    _enrol_logmel: list[float] = field(default_factory=list)
    enrolled: bool = False

    def enrolling(self, end: float) -> bool:
        return not self.enrolled and end <= self.enrol_until_s

    def finish_enrolment(self) -> None:
        """Set the baselines from what the enrolment seconds showed (once). Seconds that showed
        nothing (no face, no utterance ended in them) enrol nothing: `enrolled` stays False."""
        if self.enrolled:
            return
        if not (self._enrol_face or self._enrol_voice or self._enrol_logmel):
            return
        if self._enrol_face:
            self.face.enrol(np.concatenate(self._enrol_face))
        if self._enrol_voice and self.voice is not None:
            self.voice.enrol(self._enrol_voice)
        if self._enrol_logmel:
            self.logmel_voice.enrol(np.array(self._enrol_logmel))
        self.enrolled = True
        self._drop_enrolment_seconds()

    def _drop_enrolment_seconds(self) -> None:
        """Forget what the enrolment seconds collected (used, or belonging to someone else)."""
        self._enrol_face.clear()
        self._enrol_voice.clear()
        self._enrol_logmel.clear()

    def new_person(self, voice_expert=None) -> None:
        """Forget this person (running values, enrolment): someone else is in front of the sensors.
        voice_expert: the Whisper voice expert whose fresh baseline the new person starts from."""
        self.face.forget()
        self.logmel_voice.forget()
        self.voice = voice_expert.new_baseline() if voice_expert is not None else None
        self.enrolled, self.enrol_until_s = False, 0.0
        self._drop_enrolment_seconds()

    def for_stream(self) -> PersonBaselines:
        """A copy that keeps learning over a run, starting from what this one holds."""
        fresh = copy.deepcopy(self)
        fresh.running = True
        return fresh

    def state(self) -> dict:
        voice = ({"utterances": self.voice.n, "expert": "whisper"} if self.voice is not None
                 else {**self.logmel_voice.state().to_dict(), "expert": "log-mel"})
        return {"face": self.face.state().to_dict(), "voice": voice,
                "enrolling": not self.enrolled and self.enrol_until_s > 0, "enrolled": self.enrolled}


def graph_is_bounded(bundle) -> bool:
    """Whether an evidence_fusion bundle's graph applies the bounded fusion itself (manifests from
    before the bounded graph have no `fusion` and add the evidence)."""
    manifest = getattr(bundle, "manifest", None)
    return manifest is not None and manifest.overrides.get("fusion", "sum") == "bounded"


def graph_reads_text_confidence(bundle) -> bool:
    """Whether a bounded evidence_fusion graph weighs the text by the text mask's height (0..1: the
    recogniser's confidence); graphs exported before that read any mask above 0 as 1 (present)."""
    return graph_is_bounded(bundle) and bool(bundle.manifest.overrides.get("text_confidence", False))


def face_valence_of(bundle) -> dict[str, float] | None:
    """The face valence table of an evidence_fusion bundle (None for other families)."""
    manifest = getattr(bundle, "manifest", None)
    if manifest is None or manifest.family != "evidence_fusion":
        return None
    return manifest.overrides.get("face_valence")


def whisper_voice_features(wave_16k: np.ndarray) -> np.ndarray | None:
    """Pooled Whisper encoder states of one utterance, as the live path computes them; None where
    Whisper (the `whisper` extra) is not installed."""
    try:
        from edge_msa.features.whisper import encode_short, load_whisper
        from edge_msa.features.whisper_voice import pooled_voice_features

        model = load_whisper()
    except (ImportError, UserError):
        return None
    return pooled_voice_features(encode_short(model, wave_16k))


def enrolled_baselines(face_valence: dict[str, float], vision_dim: int, face_rows: np.ndarray | None,
                       logmel_voice: float | None, voice_features: np.ndarray | None,
                       whisper_voice: bool = False) -> PersonBaselines:
    """Baselines set from a person at rest: face rows [N, vision_dim], the log-mel voice expert's
    evidence of their calm voice, and (with the Whisper voice expert) its pooled features."""
    baselines = PersonBaselines(running=False, enrolled=True, whisper_voice=whisper_voice)
    if face_rows is not None and len(face_rows):
        values = frame_evidence(face_rows[:, expression_slice(vision_dim)], valence_vector(face_valence))
        baselines.face.enrol(values)
    if logmel_voice is not None:
        baselines.logmel_voice.enrol(np.array([logmel_voice]))
    if voice_features is not None and whisper_voice:
        expert = load_voice_expert()
        if expert is not None:
            baselines.voice = expert.new_baseline()
            baselines.voice.enrol([voice_features])
    return baselines


def baselines_for_run(cfg) -> PersonBaselines:
    """A live run's baselines from the config's `calibration` section (a CalibrationConfig)."""
    face = RunningBaseline(cfg.face_prior_frames, cfg.face_keep_frames, cfg.face_reset_after_s)
    return PersonBaselines(face=face, running=cfg.person_baseline, enrol_until_s=cfg.enrol_s,
                           whisper_voice=cfg.voice == "whisper")


class CalibratedFusion:
    """Per-expert readings of one window -> (score, uncertainty, {modality: (evidence, error)})."""

    def __init__(self, predict: Predict, spec: FeatureSpec, face_valence: dict[str, float], scale: str,
                 baselines: PersonBaselines | None = None, voice_expert=None,
                 bounded_graph: bool = False) -> None:
        self.predict, self.spec, self.scale = predict, spec, scale
        self.bound = SCALE_MAX.get(scale, SCALE_MAX["mosi"])
        self.bounded_graph = bounded_graph
        self.valence = valence_vector(face_valence)
        self.expr = expression_slice(spec.vision.dim)
        self.baselines = baselines or PersonBaselines()
        if bounded_graph:  # the graph centres the voice on narration itself
            self.baselines.logmel_voice.recentre(0.0)
        self.voice_expert = None
        self.voice_expert_tried = voice_expert is not None
        self.attach_voice_expert(voice_expert)
        self._face_error: float | None = None

    def attach_voice_expert(self, expert) -> None:
        """Use the Whisper voice expert (None: keep the bundle's log-mel voice)."""
        if expert is None:
            return
        self.voice_expert = expert
        if self.baselines.voice is None:
            self.baselines.voice = expert.new_baseline()

    def face_error(self, inputs: tuple[np.ndarray, ...]) -> float:
        """The face expert's validation error, read once from the graph's face-only uncertainty."""
        if self._face_error is None:
            from edge_msa.runtime.scheduler import only

            self._face_error = error_from_uncertainty(self.predict(only(inputs, "vision"))[1])
        return self._face_error

    def expert(self, inputs: tuple[np.ndarray, ...], modality: str) -> tuple[float, float]:
        """(evidence, validation error) of one graph expert: the graph run with only `modality`."""
        from edge_msa.runtime.scheduler import only

        score, unc = self.predict(only(inputs, modality))
        if self.bounded_graph:  # the graph reported bound * tanh(e / bound): undo it
            score = float(unbent(score, self.bound))
        return score, error_from_uncertainty(unc)

    def readings(self, inputs: tuple[np.ndarray, ...], present: dict[str, bool], text_confidence: float,
                 voice_states: np.ndarray | None, face_frames: tuple[np.ndarray, np.ndarray],
                 end: float) -> dict[str, Reading]:
        b, out = self.baselines, {}
        enrolling = b.enrolling(end)
        if not enrolling and b.enrol_until_s > 0:
            b.finish_enrolment()
        if present["text"]:
            score, error = self.expert(inputs, "text")
            out["text"] = Reading(score, error, float(np.clip(text_confidence, 0, 1)))
        if present["audio"]:
            if voice_states is not None and self.voice_expert is not None:
                out["audio"] = self._voice(voice_states, enrolling)
            else:
                out["audio"] = self._logmel_voice(inputs, end, enrolling)
        if present["vision"]:
            out["vision"] = self._face(inputs, face_frames, enrolling)
        return out

    def _voice(self, states: np.ndarray, enrolling: bool) -> Reading:
        from edge_msa.features.whisper_voice import pooled_voice_features

        b = self.baselines
        feats = pooled_voice_features(states)
        score, error = self.voice_expert.evidence(feats, b.voice)
        # after scoring: an utterance is not part of its own reference
        if enrolling:
            b._enrol_voice.append(feats)
        elif b.running and b.voice is not None:
            b.voice.update(feats)
        return Reading(score, error)

    def _logmel_voice(self, inputs: tuple[np.ndarray, ...], end: float, enrolling: bool) -> Reading:
        """The bundle's log-mel voice expert, read against the person's running voice baseline."""
        b = self.baselines
        score, error = self.expert(inputs, "audio")
        evidence = score - b.logmel_voice.offset()
        if enrolling:  # after scoring, as for the face: an utterance is not its own reference
            b._enrol_logmel.append(score)
        elif b.running:
            b.logmel_voice.observe(np.array([end]), np.array([score]))
        return Reading(evidence, error)

    def _face(self, inputs: tuple[np.ndarray, ...], frames: tuple[np.ndarray, np.ndarray],
              enrolling: bool) -> Reading:
        b = self.baselines
        times, rows = frames
        values = frame_evidence(rows[:, self.expr], self.valence)
        evidence = float(values.mean()) - b.face.offset() if values.size else 0.0
        # after scoring, as for the voice: a window is not part of its own reference (a clip that is
        # all smile would otherwise subtract part of its own smile)
        if enrolling:
            b._enrol_face.append(values)
        elif b.running:
            b.face.observe(times, values)
        return Reading(evidence, self.face_error(inputs))

    def fuse(self, readings: dict[str, Reading]) -> tuple[float, float]:
        return fuse(readings, SCALE_MAX.get(self.scale, SCALE_MAX["mosi"]), PRIOR_STD)
