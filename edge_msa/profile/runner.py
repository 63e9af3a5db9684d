"""`edge-msa profile BUNDLE`: latency of one bundle on every backend it and this machine support."""

from __future__ import annotations

import datetime as dt
import importlib.util
import platform
import sys
import time
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError
from edge_msa.export.bundle import Bundle, bundle_tokenizer, load_bundle
from edge_msa.features.spec import MIN_TEXT_LEN, FeatureSpec, used_text_len
from edge_msa.features.text import PAD_ID, tokenize
from edge_msa.profile.devices import detect_device, load_profiles, match_profile
from edge_msa.profile.latency import peak_rss_mb, time_calls
from edge_msa.profile.report import SCHEMA, BackendResult, ProfileResult

# A real sentence, so the text path sees ordinary tokens and an ordinary mask.
PROFILE_SENTENCE = "honestly the movie was much better than i expected and i would watch it again"


def profile_inputs(spec: FeatureSpec, seed: int = 0, tokenizer=None,
                   text_tokens: int | None = None) -> tuple[np.ndarray, ...]:
    """Batch-1 inputs at the spec's static shapes with every modality present, audio and face at
    full window; the text is PROFILE_SENTENCE (17 tokens with [CLS] and [SEP]) or, with
    `text_tokens`, that many kept tokens (the spec's max_len: the worst case).

    `tokenizer`: a bundle's (export.bundle.bundle_tokenizer); default: transformers' MiniLM."""
    rng = np.random.default_rng(seed)
    if text_tokens is not None and not MIN_TEXT_LEN <= text_tokens <= spec.text.max_len:
        raise UserError(f"--text-tokens must be {MIN_TEXT_LEN}..{spec.text.max_len} (the bundle's text "
                        f"length), got {text_tokens}")
    if spec.text.is_tokens:
        words = PROFILE_SENTENCE if text_tokens is None else " ".join([PROFILE_SENTENCE] * spec.text.max_len)
        text, text_mask = tokenize([words], spec.text.max_len, tokenizer)
        if text_tokens is not None:
            text[:, text_tokens:], text_mask[:, text_tokens:] = PAD_ID, 0.0
    else:
        text = rng.standard_normal((1, spec.text.max_len, spec.text.dim)).astype(np.float32)
        text_mask = np.ones((1, spec.text.max_len), np.float32)
        text_mask[:, text_tokens or spec.text.max_len :] = 0.0
    out = [text, text_mask]
    for m in (spec.audio, spec.vision):
        out += [rng.standard_normal((1, m.max_len, m.dim)).astype(np.float32),
                np.ones((1, m.max_len), np.float32)]
    return tuple(out)


def bundle_summary(bundle: Bundle) -> dict:
    m = bundle.manifest
    model_files = {k: v.bytes for k, v in m.files.items() if v.role == "model"}
    return {"name": m.name, "path": str(bundle.root), "family": m.family, "model": m.model,
            "format": m.format, "precision": m.precision,
            "model_size_mb": round(sum(model_files.values()) / 1e6, 3), "files": model_files}


def profile_backend(bundle: Bundle, name: str, threads: int, runs: int, warmup: int,
                    inputs: tuple[np.ndarray, ...]) -> BackendResult:
    from edge_msa.runtime.backends import backend_class, load_backend

    reason = backend_class(name).unavailable()
    if reason is not None:
        return BackendResult(backend=name, status="unavailable", reason=reason)
    t0 = time.perf_counter()
    backend = load_backend(bundle, name, threads=threads)
    load_ms = (time.perf_counter() - t0) * 1e3
    stats = time_calls(lambda: backend.predict(inputs), runs=runs, warmup=warmup)
    return BackendResult(backend=name, status="ok", load_ms=load_ms, peak_rss_mb=peak_rss_mb(), **stats)


def profile_bundle(bundle_dir: str | Path, backends: list[str] | None, threads: int, runs: int,
                   warmup: int, devices_dir: str | Path | None = None,
                   text_tokens: int | None = None) -> ProfileResult:
    if runs < 1 or warmup < 0 or threads < 1:
        raise UserError("--runs and --threads must be >= 1 and --warmup >= 0")
    bundle = load_bundle(bundle_dir)
    inputs = profile_inputs(bundle.spec, tokenizer=bundle_tokenizer(bundle), text_tokens=text_tokens)
    wanted = backends or bundle.manifest.backends
    unknown = [b for b in wanted if b not in bundle.manifest.backends]
    if unknown:
        raise UserError(f"bundle {bundle.root} is not made for {', '.join(unknown)}; "
                        f"it runs on: {', '.join(bundle.manifest.backends)}")
    if importlib.util.find_spec("torch") is not None:  # the lean install has no torch backend
        import torch

        torch.set_num_threads(threads)
    info = detect_device()
    try:
        profile = match_profile(info, load_profiles(devices_dir))
    except UserError:
        profile = None  # no profile folder (installed package without a checkout): id only
    results = [profile_backend(bundle, b, threads, runs, warmup, inputs) for b in wanted]
    return ProfileResult(
        schema_=SCHEMA, created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        command=" ".join(["edge-msa", *sys.argv[1:]]) if sys.argv else "edge-msa profile",
        device={**info.to_dict(), "python": platform.python_version()},
        device_profile=profile.id if profile else None, bundle=bundle_summary(bundle),
        settings={"threads": threads, "runs": runs, "warmup": warmup, "batch": 1,
                  "text_tokens": used_text_len(inputs[1]), "text_cut": bundle.manifest.text_varies},
        results=results)
