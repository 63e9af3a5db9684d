"""From a user's choices (files, devices, bundle, config) to a ready Pipeline.

Inputs: `--video FILE` brings its own audio track unless `--audio`/`--mic` says otherwise;
`--camera`/`--mic` are live sensors; with no input named at all, the config's camera and
microphone are used (the edge-box case). Files are checked before any thread starts, so a
missing, corrupt or unsupported file is one clear error.
"""

from __future__ import annotations

from pathlib import Path

from edge_msa.errors import UserError
from edge_msa.features import media
from edge_msa.features.spec import FeatureSpec
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.native_output import quiet_native_stderr
from edge_msa.runtime.pipeline import Pipeline, Sensors
from edge_msa.runtime.sources.camera import CameraSource
from edge_msa.runtime.sources.media_file import FileAudioSource, FileVideoSource
from edge_msa.runtime.sources.mic import MicSource
from edge_msa.runtime.tiers import ASSETS, default_format, resolve_bundle


def default_bundle_path() -> Path:
    """The bundle shipped in the package: the default tier's fastest bundle on this device (its
    profile's `fastest_formats`), else ExecuTorch int8, or its ONNX int8 sibling where the executorch
    runtime is not installed (recipe: export/default/train.yaml)."""
    return ASSETS / "default" / default_format("default")


def open_bundle(bundle: str | Path | None, backend: str | None, threads: int | None = 1):
    """(backend, spec, label scale) of a bundle; None means the shipped default bundle.

    One thread by default: on a small box the perception threads need the other cores."""
    from edge_msa.runtime.backends import load_backend

    path = resolve_bundle(bundle) if bundle is not None else default_bundle_path()
    if bundle is None and not (path / "manifest.json").is_file():
        raise UserError(f"no default bundle in this installation ({path}); pass --bundle DIR "
                        "(a folder written by `edge-msa export`)")
    runner = load_backend(path, backend or "auto", threads)
    return runner, runner.spec, runner.manifest.scale


def build_sensors(config: RuntimeConfig, *, video: Path | None = None, camera: str | None = None,
                  audio: Path | None = None, mic: str | None = None, fast: bool = False) -> Sensors:
    """The sources of a run (files are probed here: a bad file fails before anything starts)."""
    if video is not None and camera is not None:
        raise UserError("--video and --camera both name the video input: pick one")
    if audio is not None and mic is not None:
        raise UserError("--audio and --mic both name the audio input: pick one")
    nothing_named = all(x is None for x in (video, camera, audio, mic))
    sensors = Sensors()
    if video is not None:
        info = media.probe(video)
        if info.has_video:
            sensors.video = FileVideoSource(video)
            sensors.video_fps = info.fps or 30.0
        else:
            sensors.video_absent = f"{Path(video).name} has no video track"
        if audio is None and mic is None:
            if info.has_audio:
                sensors.audio = FileAudioSource(video)
            else:
                sensors.audio_absent = f"{Path(video).name} has no audio track"
    elif camera is not None or nothing_named:
        c = config.camera
        sensors.video = CameraSource(camera if camera is not None else c.device, c.width, c.height, c.fps)
        sensors.video_fps = c.fps or 30.0
    if audio is not None:
        if not media.probe(audio).has_audio:
            raise UserError(f"{audio} has no audio track")
        sensors.audio = FileAudioSource(audio)
    elif mic is not None or nothing_named:
        device = config.mic.device if mic is None or mic == "default" else mic
        sensors.audio = MicSource(device, config.mic.block_s)
    if fast and any(s is not None and s.live for s in (sensors.audio, sensors.video)):
        raise UserError("--fast is for files only: a camera or microphone runs in real time")
    return sensors


def build_pipeline(config: RuntimeConfig, sensors: Sensors, backend, spec: FeatureSpec, scale: str,
                   fast: bool = False, sinks: list | None = None, audio_featurizer=None,
                   baselines=None) -> Pipeline:
    """Perception engines from the config (ASR, face model), then the pipeline.

    audio_featurizer: voice features other than the Python extractor (a bundle's front-end graph)."""
    face = face_featurizer(config) if sensors.video is not None else None
    bundle_root = getattr(getattr(backend, "bundle", None), "root", None)
    return Pipeline(backend, spec, config, sensors, fast=fast, scale=scale,
                    asr_factory=asr_factory(config, bundle_root),
                    face_featurizer=face, sinks=sinks, audio_featurizer=audio_featurizer, baselines=baselines)


def asr_factory(config: RuntimeConfig, bundle_root: Path | None = None):
    """What builds a speech recognizer as the config says (None: speech recognition off); `auto`
    keeps pocketsphinx for the shipped nano tier's bundles (bundle_root under assets/nano)."""
    from edge_msa.runtime.perception.asr import engine_factory

    a = config.asr
    nano = bundle_root is not None and (ASSETS / "nano").resolve() in Path(bundle_root).resolve().parents
    return engine_factory(a.engine, a.model, a.threads, nano, **a.options)


def face_featurizer(config: RuntimeConfig):
    """The face model as the config says (None: face features off)."""
    if not config.face.enabled:
        return None
    from edge_msa.features.face import FaceFeaturizer

    with quiet_native_stderr():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        return FaceFeaturizer(num_threads=config.face.threads, still_diff=config.face.still_diff,
                              max_reuse_s=config.face.max_reuse_s)
