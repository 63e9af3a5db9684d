"""The bundle's voice front-end: `features.audio_graph.VoiceFrontend` as frontend.onnx / frontend.pte.

    frontend.onnx   pcm float32 [1, N] (16 kHz, any N) -> frames float32 [1, N // 320, 42]
    frontend.pte    the same program for ExecuTorch, N up to `PTE_MAX_SECONDS` of audio

Written for bundles whose audio spec is `audio:logmel-40-pitch-energy`. Parity against the Python
extractor (`AudioFeaturizer.offline`) on real speech (the packaged demo clip, and the LibriVox test
clips and EmoDB files when present) is measured with the exported file itself and recorded in the
manifest; outside `TOLERANCE` the export fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch

from edge_msa.errors import UserError
from edge_msa.export.bundle import Bundle
from edge_msa.features import audio as A
from edge_msa.features.audio_graph import INPUT_NAME, OUTPUT_NAME, VoiceFrontend

ONNX, PTE = "frontend.onnx", "frontend.pte"
TOLERANCE = 1e-3  # max abs difference to the Python extractor, every channel, every frame
PTE_MAX_SECONDS = 10  # ExecuTorch plans memory for the largest input: longer audio goes in chunks
MIN_SAMPLES = A.HOP  # fewer samples hold no frame (T = N // 320 = 0): nothing to run
REPO_ROOT = Path(__file__).resolve().parents[2]
SPEECH = (REPO_ROOT / "tests" / "data" / "librivox", REPO_ROOT.parent / "shared" / "data" / "emodb" / "wav")


def has_frontend(audio_kind: str) -> bool:
    """Whether the exported front-end computes this audio input."""
    return audio_kind == A.KIND


def _program(max_samples: int | None) -> torch.export.ExportedProgram:
    # min two frames: export specialises a size-1 frame axis (the files run from MIN_SAMPLES, tested)
    n = torch.export.Dim("samples", min=2 * A.HOP, max=max_samples)
    example = (torch.zeros(1, 16000),)
    return torch.export.export(VoiceFrontend().eval(), example, dynamic_shapes=({1: n},))


@cache
def _onnx_bytes(opset: int) -> bytes:
    """One export per process: the graph is the same for every bundle."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ONNX
        torch.onnx.export(_program(None), (), str(path), dynamo=True, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], external_data=False,
                          optimize=False,  # onnxscript's optimizer drops "+ 1e-10" before ln: -inf on silence
                          verbose=False)
        return path.read_bytes()


@cache
def _pte_bytes() -> bytes:
    """ExecuTorch program (portable kernels: XNNPACK does not take float64 ops)."""
    from executorch.exir import to_edge_transform_and_lower

    return to_edge_transform_and_lower(_program(PTE_MAX_SECONDS * A.SAMPLE_RATE)).to_executorch().buffer


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
        from executorch.runtime import Runtime

        self.method = Runtime.get().load_program(Path(path)).load_method("forward")
        self.max_samples = max_samples

    def _run(self, wave: np.ndarray) -> np.ndarray:
        return self.method.execute([torch.from_numpy(wave[None].copy())])[0][0].numpy()

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
    """Max abs difference of `run` (wave -> frames) to `AudioFeaturizer.offline` on `files`."""
    from edge_msa.features.media import read_audio

    if not files:
        raise UserError("no speech for the front-end's parity check (the packaged demo clip is missing)")
    worst = np.zeros(A.DIM)
    frames = 0
    for f in files:
        wave = read_audio(f, A.SAMPLE_RATE)
        ref, got = A.AudioFeaturizer().offline(wave), run(wave)
        if got.shape != ref.shape:
            raise UserError(f"front-end returned {got.shape} frames for {f.name}, the extractor {ref.shape}")
        worst = np.maximum(worst, np.abs(got - ref).max(axis=0))
        frames += len(ref)
    mel_energy = float(np.delete(worst, A.N_MELS).max())
    return {"max_abs_diff": float(worst.max()), "max_abs_diff_logmel_energy": mel_energy,
            "max_abs_diff_pitch": float(worst[A.N_MELS]), "tolerance": TOLERANCE,
            "passed": bool(worst.max() < TOLERANCE), "files": len(files), "frames": frames,
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


def write_frontend(out: Path, executorch: bool) -> tuple[dict[str, str], dict]:
    """frontend.onnx (+ frontend.pte) in `out`, checked on real speech: ({file: role}, manifest entry)."""
    export_frontend_onnx(out / ONNX)
    files = {ONNX: "frontend"}
    parity = {"onnxruntime": measure_parity(OnnxFrontend(out / ONNX), speech_files())}
    if executorch:
        export_frontend_pte(out / PTE)
        files[PTE] = "frontend"
        parity["executorch"] = measure_parity(PteFrontend(out / PTE), speech_files(limit_per_folder=2))
    failed = [name for name, p in parity.items() if not p["passed"]]
    if failed:
        raise UserError(f"voice front-end outside tolerance {TOLERANCE} with {', '.join(failed)}: "
                        + "; ".join(f"{k} max abs diff {parity[k]['max_abs_diff']:.2e}" for k in failed))
    entry = {"files": sorted(files), "kind": A.KIND, "sample_rate": A.SAMPLE_RATE,
             "input": {"name": INPUT_NAME, "shape": [1, "N"], "dtype": "float32", "min_samples": MIN_SAMPLES},
             "output": {"name": OUTPUT_NAME, "shape": [1, "N // 320", A.DIM], "dtype": "float32"},
             "parity": parity}
    if executorch:
        entry["pte_max_samples"] = PTE_MAX_SECONDS * A.SAMPLE_RATE
    return files, entry
