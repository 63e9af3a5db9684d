"""The pipeline config (`runtime/*.yaml`): sensors, perception, windows, health, backend, sinks.

Loaded into typed models; an unknown key, a wrong type or a bad value is a one-line UserError
naming the field. CLI options override single fields (`with_overrides`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edge_msa.errors import UserError
from edge_msa.recipe_folders import find_named, is_path
from edge_msa.runtime.perception.vad import VADConfig
from edge_msa.user_files import StrictModel as _Strict
from edge_msa.user_files import read_yaml, validated


class CameraConfig(_Strict):
    device: int | str = Field(0, description="index, /dev/videoN, or a GStreamer pipeline ending in appsink")
    width: int = Field(640, ge=0, description="requested size; 0 keeps the camera's own")
    height: int = Field(480, ge=0)
    fps: float = Field(30, ge=0)


class MicConfig(_Strict):
    device: int | str | None = None  # None: the system default input
    block_s: float = Field(0.032, gt=0, le=0.5)


_VAD = VADConfig()  # the segmenter's own defaults: one place for them


class VadConfig(_Strict):
    threshold: float = Field(_VAD.threshold, gt=0, lt=1)
    min_speech_s: float = Field(_VAD.min_speech_s, ge=0)
    min_silence_s: float = Field(_VAD.min_silence_s, ge=0)
    speech_pad_s: float = Field(_VAD.speech_pad_s, ge=0)
    max_utterance_s: float = Field(_VAD.max_utterance_s, gt=0,
                                   description="longer speech is cut (at most one model window)")


class AsrConfig(_Strict):
    engine: Literal["auto", "whisper", "pocketsphinx", "none"] = Field(
        "auto", description="auto: Whisper where the whisper extra is installed, except the nano tier "
                            "and machines with one core; else pocketsphinx")
    model: Path | None = Field(None, description="a CTranslate2 Whisper folder (None: the packaged tiny.en)")
    threads: int = Field(1, ge=1, description="Whisper's CPU threads (the other cores run vision and fusion)")
    # pocketsphinx decoder options. Without the flat-lexicon pass and the lattice best path the decode is
    # finished by the time the utterance ends (end_utt 0.12 s instead of 0.8-1.5 s on LibriVox,
    # same word error rate there): the event comes sooner. At most 4000 active HMMs per frame
    # (pocketsphinx allows 30000) is the decoder's largest CPU cost cut: 0.59 -> 0.41 CPU s per
    # audio s on LibriVox at the same WER (0.225), on the six CREMA-D clips 1.14 -> 0.59 with WER
    # 0.458 -> 0.500 (one more error in 24 words); the whole live path must fit one core.
    # Scoring the top 2 Gaussians per frame instead of 4 cuts another 22% of the decode's CPU
    # (LibriVox + CREMA-D sample, one core) with no more errors there (LibriVox WER 0.296 -> 0.254,
    # CREMA-D 0.458 both; 110 words in all, so "no worse", not "better").
    options: dict[str, bool | int | float | str] = Field(
        default_factory=lambda: {"fwdflat": False, "bestpath": False, "maxhmmpf": 4000, "topn": 2})


class FaceConfig(_Strict):
    enabled: bool = True
    threads: int = Field(1, ge=1)
    # A face region that changed less than this (mean grey levels) since the last computed frame
    # reuses its features: on the CREMA-D sample clips 2.0 skips the models on 24 of 129 10 Hz
    # frames and moves features 0.004 on average (frame to frame they move 0.02-0.04). 0: off.
    still_diff: float = Field(2.0, ge=0, description="reuse face features while the face is this still "
                                                      "(mean grey-level change; 0: always run the models)")
    max_reuse_s: float = Field(0.5, ge=0, description="longest reuse of one computed face frame")


class SchedulerConfig(_Strict):
    interval_s: float = Field(0.0, ge=0, description="also fuse the last window every N s (0: off)")
    fallback_interval_s: float = Field(3.0, gt=0, description="vision-only events while audio is unusable")
    vision_wait_s: float = Field(1.0, ge=0, description="longest wait for late video at utterance end")
    evidence: bool = True


class CalibrationConfig(_Strict):
    """Per-person baselines of the calibrated path (evidence_fusion bundles; docs/calibration.md)."""

    fusion: Literal["calibrated", "graph"] = Field(
        "calibrated", description="calibrated: per-expert evidence, baselines and bounded fusion "
                                 "(evidence_fusion bundles); graph: the bundle's own fused output, as before")
    voice: Literal["logmel", "whisper"] = Field(
        "logmel", description="voice expert: the bundle's log-mel expert (chosen on EmoDB validation "
                              "speakers), or the Whisper encoder expert where the recogniser is Whisper")
    person_baseline: bool = Field(True, description="subtract the person's resting face and standardise "
                                                    "their voice by their own running statistics")
    face_prior_frames: int = Field(50, ge=0, description="weight of the prior (0, or the enrolled value) "
                                                         "in face frames: 5 s at 10 Hz")
    face_keep_frames: int = Field(600, ge=1, description="face frames the running median covers (60 s)")
    face_reset_after_s: float = Field(10.0, gt=0, description="forget the baseline after the face is "
                                                              "gone this long")
    enrol_s: float = Field(0.0, ge=0, allow_inf_nan=False,
                           description="the run's first N s are the person at rest: they set the "
                                       "baselines (0: no enrolment)")


class HealthConfig(_Strict):
    audio_timeout_s: float = Field(2.0, gt=0)
    video_timeout_s: float = Field(2.0, gt=0)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(10.0, gt=0)


class QueueConfig(_Strict):
    audio: int = Field(256, ge=1, description="audio chunks between source and perception")
    video: int = Field(8, ge=1, description="frames between source and perception")
    events: int = Field(16, ge=1, description="windows waiting for fusion")


class HttpConfig(_Strict):
    enabled: bool = False
    host: str = Field("127.0.0.1", description="beyond the loopback a token is required")
    token: str | None = Field(None, description="None: generated (and printed) when not on the loopback")
    port: int = Field(8765, ge=0, le=65535)
    keep: int = Field(100, ge=1)


class SinkConfig(_Strict):
    console: Literal["auto", "live", "lines", "off"] = "auto"
    jsonl: Path | None = None
    overlay: Path | None = None
    http: HttpConfig = HttpConfig()


class RuntimeConfig(_Strict):
    camera: CameraConfig = CameraConfig()
    mic: MicConfig = MicConfig()
    vad: VadConfig = VadConfig()
    asr: AsrConfig = AsrConfig()
    face: FaceConfig = FaceConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    health: HealthConfig = HealthConfig()
    queues: QueueConfig = QueueConfig()
    backend: str | None = None  # None: the bundle's own default
    backend_threads: int = Field(1, ge=1, description="threads of the model runtime")
    sinks: SinkConfig = SinkConfig()

    def with_overrides(self, **fields) -> RuntimeConfig:
        """A copy with dotted fields replaced (`sinks.jsonl=...`); None values are skipped."""
        data = self.model_dump()
        for dotted, value in fields.items():
            if value is None:
                continue
            *path, leaf = dotted.split(".")
            target = data
            for key in path:
                target = target[key]
            target[leaf] = value
        return _validate(data, "options")


def _validate(data: object, where: str) -> RuntimeConfig:
    return validated(RuntimeConfig, data or {}, where, "(top level)")


def find_config(name_or_path: str | Path) -> Path:
    """A pipeline config file by path, or by name (`jetson-csi`) in runtime/ (working directory,
    then the configs edge-msa carries)."""
    if is_path(name_or_path) and not Path(name_or_path).is_file():
        raise UserError(f"no such pipeline config: {name_or_path}")
    return find_named(name_or_path, "runtime", "pipeline config")


def load_config(path: str | Path | None = None) -> RuntimeConfig:
    """A pipeline config from YAML, by path or name (None: the defaults, same as runtime/default.yaml)."""
    if path is None:
        return RuntimeConfig()
    path = find_config(path)
    return _validate(read_yaml(path), str(path))
