"""The bundle's voice front-end: `features.audio_graph.VoiceFrontend` as frontend.onnx / frontend.pte.

    frontend.onnx   pcm float32 [1, N] (16 kHz, any N) -> frames float32 [1, N // 320, 42]
    frontend.pte    the same program for ExecuTorch (XNNPACK takes its float32 matmuls), N up to
                    `PTE_MAX_SECONDS` of audio

Both are float32 graphs of a few hundred KB at most (the DFTs are factorised: audio_graph.py), so every
bundle whose audio spec is `audio:logmel-40-pitch-energy` carries them, the shipped tiers included
(`attach_frontend`). Parity against the Python extractor (`AudioFeaturizer.offline`) on real speech
(the packaged demo clip, and the LibriVox test clips and EmoDB files when present) is measured with
the exported file itself and recorded in the manifest; outside `TOLERANCE` the export fails.

Running a bundle's front-end (`bundle_featurizer`) needs onnxruntime only: torch is imported by the
functions that export or run the ExecuTorch program, never at module import (the lean install).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError
from edge_msa.export.bundle import Bundle, Manifest
from edge_msa.features import audio as A

ONNX, PTE = "frontend.onnx", "frontend.pte"
FRONTENDS = ("python", "bundle")  # voice features: edge-msa's extractor or the bundle's front-end graph
INPUT_NAME, OUTPUT_NAME = "pcm", "frames"
TOLERANCE = 1e-3  # max abs difference to the Python extractor: log-mel and energy on every frame
# A float32 YIN may take another dip than the float64 extractor where the normalised difference sits
# within rounding of the threshold: such a frame's pitch differs by more than TOLERANCE. At most this
# share of the frames may (measured: none on 55,608 frames of real speech, docs/results.md).
MAX_PITCH_FLIP_SHARE = 0.001
PTE_MAX_SECONDS = 10  # ExecuTorch plans memory for the largest input: longer audio goes in chunks
MIN_SAMPLES = A.HOP  # fewer samples hold no frame (T = N // 320 = 0): nothing to run
REPO_ROOT = Path(__file__).resolve().parents[2]
SPEECH = (REPO_ROOT / "tests" / "data" / "librivox", REPO_ROOT.parent / "shared" / "data" / "emodb" / "wav")


def has_frontend(audio_kind: str) -> bool:
    """Whether the exported front-end computes this audio input."""
    return audio_kind == A.KIND


def _program(max_samples: int | None):
    import torch

    from edge_msa.features.audio_graph import VoiceFrontend

    # min two frames: export specialises a size-1 frame axis (the files run from MIN_SAMPLES, tested)
    n = torch.export.Dim("samples", min=2 * A.HOP, max=max_samples)
    example = (torch.zeros(1, A.SAMPLE_RATE),)
    return torch.export.export(VoiceFrontend().eval(), example, dynamic_shapes=({1: n},))


@cache
def _onnx_bytes(opset: int) -> bytes:
    """One export per process: the graph is the same for every bundle."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ONNX
        torch.onnx.export(_program(None), (), str(path), dynamo=True, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], external_data=False,
                          optimize=False,  # onnxscript's optimizer drops "+ 1e-10" before ln: -inf on silence
                          verbose=False)
        import onnx

        model = onnx.load(str(path))
        for node in model.graph.node:  # torch's per-node stack traces: 85% of the file, and local paths
            del node.metadata_props[:]
        return model.SerializeToString()


@cache
def _pte_edge():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from edge_msa.export.xnnpack_passes import xnnpack_transform_passes

    return to_edge_transform_and_lower(_program(PTE_MAX_SECONDS * A.SAMPLE_RATE),
                                       transform_passes=xnnpack_transform_passes(),
                                       partitioner=[XnnpackPartitioner()])


@cache
def _pte_bytes() -> bytes:
    """ExecuTorch program: XNNPACK takes the float32 matmuls and most elementwise ops; YIN's cumsum,
    argmax/argmin and gathers stay on portable kernels (`pte_delegation`)."""
    from edge_msa.export.executorch_export import backend_config

    return _pte_edge().to_executorch(backend_config(text_varies=True)).buffer  # frame axis varies


def pte_delegation() -> dict:
    """What XNNPACK took in frontend.pte (recorded in the manifest)."""
    from edge_msa.export.executorch_export import delegation_summary

    return delegation_summary(_pte_edge().exported_program().graph_module)


def export_frontend_onnx(path: Path, opset: int = 18) -> None:
    path.write_bytes(_onnx_bytes(opset))


def export_frontend_pte(path: Path) -> None:
    path.write_bytes(_pte_bytes())


class OnnxFrontend:
    """frontend.onnx through onnxruntime: 1-D 16 kHz wave -> [T, 42] float32 (any length, even 0)."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave, np.float32)
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: wave[None]})[0][0]


class PteFrontend:
    """frontend.pte through the ExecuTorch runtime, same call as `OnnxFrontend`; audio longer than
    the program takes goes in chunks that start one hop early, each chunk's first frame dropped."""

    def __init__(self, path: Path, max_samples: int = PTE_MAX_SECONDS * A.SAMPLE_RATE) -> None:
        import torch  # the executorch wheel's runtime takes and returns tensors
        from executorch.runtime import Runtime

        self._tensor = torch.from_numpy
        self.method = Runtime.get().load_program(Path(path)).load_method("forward")
        self.max_samples = max_samples

    def _run(self, wave: np.ndarray) -> np.ndarray:
        return self.method.execute([self._tensor(wave[None].copy())])[0][0].numpy()

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave, np.float32)
        total = len(wave) // A.HOP
        if total == 0:  # no frame; the runtime refuses an empty input
            return np.zeros((0, A.DIM), np.float32)
        parts = [self._run(wave[: self.max_samples])]
        done = len(parts[0])
        while done < total:
            start = (done - 1) * A.HOP  # the chunk's frame 1 is frame `done` of the whole wave
            parts.append(self._run(wave[start : start + self.max_samples])[1:])
            done += len(parts[-1])
        return np.concatenate(parts)


def speech_files(limit_per_folder: int = 8) -> list[Path]:
    """Real speech for parity: the packaged demo clip (always there), the LibriVox test clips and EmoDB
    files spread over its speakers (in a checkout next to the shared data)."""
    from edge_msa.features.media import demo_clip_path

    files = [demo_clip_path()] if demo_clip_path().is_file() else []
    for folder in SPEECH:
        found = sorted(folder.glob("*.wav")) if folder.is_dir() else []
        step = max(1, len(found) // limit_per_folder)
        files += found[::step][:limit_per_folder]
    return files


def measure_parity(run, files: list[Path]) -> dict:
    """Differences of `run` (wave -> frames) to `AudioFeaturizer.offline` on `files`: max abs difference
    of log-mel + energy, of pitch where both took the same YIN decision, and the frames where not."""
    from edge_msa.features.media import read_audio

    if not files:
        raise UserError("no speech for the front-end's parity check (the packaged demo clip is missing)")
    worst = np.zeros(A.DIM)
    frames = flips = 0
    for f in files:
        wave = read_audio(f, A.SAMPLE_RATE)
        ref, got = A.AudioFeaturizer().offline(wave), run(wave)
        if got.shape != ref.shape:
            raise UserError(f"front-end returned {got.shape} frames for {f.name}, the extractor {ref.shape}")
        diff = np.abs(got - ref)
        flipped = diff[:, A.N_MELS] >= TOLERANCE
        diff[flipped, A.N_MELS] = 0.0
        worst = np.maximum(worst, diff.max(axis=0, initial=0.0))
        frames += len(ref)
        flips += int(flipped.sum())
    mel_energy = float(np.delete(worst, A.N_MELS).max())
    passed = worst.max() < TOLERANCE and flips <= MAX_PITCH_FLIP_SHARE * frames
    return {"max_abs_diff": float(worst.max()), "max_abs_diff_logmel_energy": mel_energy,
            "max_abs_diff_pitch": float(worst[A.N_MELS]), "pitch_frames_differing": flips,
            "tolerance": TOLERANCE, "passed": bool(passed), "files": len(files), "frames": frames,
            "data": sorted({"emodb" if "emodb" in f.parts else f.parent.name for f in files})}


class FrontendFeaturizer:
    """`AudioFeaturizer`'s `push` / `offline` with every frame computed by an exported front-end.

    Streaming uses the graph's own zero prefix: the pending samples (starting with BLOCK/2 zeros,
    as in `AudioFeaturizer`) plus the chunk go through the graph, whose first frame is dropped.
    """

    kind, dim, rate_hz = A.KIND, A.DIM, A.SAMPLE_RATE / A.HOP

    def __init__(self, run: Callable[[np.ndarray], np.ndarray]) -> None:
        self.run = run
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(A.BLOCK // 2, np.float32)

    def push(self, chunk: np.ndarray) -> np.ndarray:
        signal = np.concatenate([self._pending, A._as_mono_f32(chunk)])
        n = max(0, len(signal) // A.HOP - 1)  # == len(frames_from_signal(signal))
        frames = self.run(signal)[1:] if n else np.zeros((0, A.DIM), np.float32)
        self._pending = signal[n * A.HOP :]
        return frames

    def offline(self, wave: np.ndarray) -> np.ndarray:
        return self.run(A._as_mono_f32(wave))


def bundle_featurizer(bundle: Bundle, threads: int = 1) -> FrontendFeaturizer:
    """The voice featurizer of a bundle's frontend.onnx (onnxruntime); a clear error without one."""
    if bundle.manifest.frontend is None or ONNX not in bundle.manifest.files:
        raise UserError(f"bundle {bundle.root} has no voice front-end ({ONNX}): re-export it with the "
                        "front-end (on by default for audio:logmel-40-pitch-energy) or use --frontend python")
    return FrontendFeaturizer(OnnxFrontend(bundle.root / ONNX, threads))


def voice_frontend(bundle: Bundle, frontend: str, threads: int = 1) -> OnnxFrontend | None:
    """`frontend` "bundle": the bundle's frontend.onnx, a wave -> frames callable (wrap it in a
    `FrontendFeaturizer` per stream); "python": None (`AudioFeaturizer`)."""
    if frontend not in FRONTENDS:
        raise UserError(f"frontend must be one of {', '.join(FRONTENDS)}, got {frontend!r}")
    return None if frontend == "python" else bundle_featurizer(bundle, threads).run


def write_frontend(out: Path, executorch: bool, files_per_folder: int = 8) -> tuple[dict[str, str], dict]:
    """frontend.onnx (+ frontend.pte) in `out`, checked on real speech (`speech_files(files_per_folder)`):
    ({file: role}, manifest entry)."""
    speech = speech_files(files_per_folder)
    export_frontend_onnx(out / ONNX)
    files = {ONNX: "frontend"}
    parity = {"onnxruntime": measure_parity(OnnxFrontend(out / ONNX), speech)}
    if executorch:
        export_frontend_pte(out / PTE)
        files[PTE] = "frontend"
        parity["executorch"] = measure_parity(PteFrontend(out / PTE), speech)
    failed = [name for name, p in parity.items() if not p["passed"]]
    if failed:
        raise UserError(f"voice front-end outside tolerance {TOLERANCE} with {', '.join(failed)}: "
                        + "; ".join(f"{k} max abs diff {parity[k]['max_abs_diff']:.2e}, pitch differs on "
                                    f"{parity[k]['pitch_frames_differing']} of {parity[k]['frames']} frames"
                                    for k in failed))
    entry = {"files": sorted(files), "kind": A.KIND, "sample_rate": A.SAMPLE_RATE, "precision": "float32",
             "input": {"name": INPUT_NAME, "shape": [1, "N"], "dtype": "float32", "min_samples": MIN_SAMPLES},
             "output": {"name": OUTPUT_NAME, "shape": [1, "N // 320", A.DIM], "dtype": "float32"},
             "parity": parity}
    if executorch:
        entry["pte_max_samples"] = PTE_MAX_SECONDS * A.SAMPLE_RATE
        entry["pte_delegation"] = pte_delegation()
    return files, entry


def attach_frontend(root: str | Path, files_per_folder: int = 8) -> Manifest:
    """Add the front-end to an existing bundle (the shipped tiers): its files, the manifest's `frontend`
    and `files` entries and INPUTS.md are (re)written; the model and every other file stay as they are."""
    from edge_msa.export.bundle import describe_files, load_bundle, write_manifest
    from edge_msa.export.inputs_doc import INPUTS_MD, inputs_markdown

    root = Path(root)
    manifest = load_bundle(root).manifest  # refuses a bundle that is already not what it says
    if not has_frontend(manifest.feature_spec.audio.kind):
        raise UserError(f"the voice front-end computes {A.KIND}; bundle {root} takes "
                        f"{manifest.feature_spec.audio.kind}")
    roles, manifest.frontend = write_frontend(root, manifest.format == "executorch", files_per_folder)
    for rel in {ONNX, PTE} - set(roles):
        manifest.files.pop(rel, None)
        (root / rel).unlink(missing_ok=True)
    manifest.files |= describe_files(root, roles)
    (root / INPUTS_MD).write_text(inputs_markdown(manifest))
    manifest.files |= describe_files(root, {INPUTS_MD: "doc"})
    write_manifest(root, manifest)
    return manifest
