"""INPUTS.md: what an app feeds a bundle and how to compute it, generated from the manifest.

Everything in it comes from the manifest (tensor names, shapes, dtypes, spec, files, front-end
parity) or from the feature code's own constants (`features.audio`, `features.face`,
`features.text`), so it cannot drift from what the bundle takes. Regenerate with
`inputs_markdown(read_manifest(BUNDLE))`.
"""

from __future__ import annotations

from edge_msa.export.bundle import Manifest
from edge_msa.features import audio as A
from edge_msa.features.face import BLENDSHAPE_NAMES, FEATURE_NAMES, POSE_NAMES
from edge_msa.features.face_expression import EXPRESSIONS
from edge_msa.features.spec import LIVE, ModalitySpec
from edge_msa.features.text import CLS_ID, PAD_ID, SEP_ID, UNK_ID

INPUTS_MD = "INPUTS.md"
SCALES = {"mosi": "-3 (very negative) .. +3 (very positive)", "sims": "-1 (negative) .. +1 (positive)"}


def _shape(shape: list) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _meaning(name: str, m: ModalitySpec) -> str:
    if name.endswith("_mask"):
        unit = "token" if m.is_tokens else f"frame slot (1/{m.rate_hz:g} s)"
        return f"1.0 per real {unit}, 0.0 for padding; all zeros = {name[:-5]} absent"
    if m.is_tokens:
        return f"`{m.kind}` token ids, [CLS] first, padded to {m.max_len}"
    return f"`{m.kind}`: {m.dim} values per frame at {m.rate_hz:g} Hz, oldest first, up to {m.max_len} frames"


def _text(m: ModalitySpec, files: dict) -> list[str]:
    if not m.is_tokens:
        return [f"`{m.kind}`: pre-computed features; edge-msa has no live extractor for this kind."]
    tok = sorted(p for p, f in files.items() if f.role == "tokenizer")
    return [
        f"MiniLM WordPiece ids (BERT uncased, vocabulary {m.dim}), files in this bundle: "
        + ", ".join(f"`{p}`" for p in tok) + ".",
        "",
        "1. Lower-case, strip accents, split on whitespace and punctuation (BERT basic tokenizer), then "
        f"greedy longest-match WordPiece over `tokenizer/vocab.txt` (`##` continuations; unknown words -> "
        f"[UNK] = {UNK_ID}).",
        f"2. ids = [CLS] = {CLS_ID}, the pieces (cut to {m.max_len - 2}), [SEP] = {SEP_ID}; pad with "
        f"[PAD] = {PAD_ID} to {m.max_len}. `text_mask` is 1.0 from [CLS] to [SEP], 0.0 on padding.",
        "3. Libraries that do exactly this: onnxruntime-extensions `BertTokenizer` with "
        "`vocab_file=tokenizer/vocab.txt`, `do_lower_case=1`, `strip_accents=1`; ExecuTorch's "
        "pytorch-tokenizers `HFTokenizer` loading `tokenizer/tokenizer.json` (add [CLS]/[SEP] and pad "
        "yourself" + ("" if "tokenizer/tokenizer.json" in tok else "; this bundle leaves that file out to "
                      "save 0.5 MB: write it with Hugging Face `AutoTokenizer.from_pretrained('tokenizer/')"
                      ".save_pretrained(...)`") + "); Hugging Face `AutoTokenizer` on `tokenizer/`. "
        "Reference: `edge_msa.features.text.tokenize`.",
        "4. No words (no speech, ASR failed): all-zero `text` and `text_mask` (text absent).",
    ]


def _parity(frontend: dict) -> list[str]:
    rows = ["| runtime | files | frames | max abs diff: log-mel + energy | pitch | pitch frames differing "
            "| tolerance |", "|---|---|---|---|---|---|---|"]
    for backend, p in frontend["parity"].items():
        rows.append(f"| {backend} | {p['files']} ({', '.join(p['data'])}) | {p['frames']} | "
                    f"{p['max_abs_diff_logmel_energy']:.1e} | {p['max_abs_diff_pitch']:.1e} | "
                    f"{p.get('pitch_frames_differing', 0)} | {p['tolerance']:g} |")
    return rows


def _runtimes(frontend: dict, files: dict) -> list[str]:
    """How each front-end file runs, with its size."""
    size = {f: f" ({files[f].bytes / 1e3:.0f} KB)" if f in files else "" for f in frontend["files"]}
    lines = [f"- `{f}`{size[f]}: onnxruntime (CPU execution provider; opset 18 ops only, no custom op)"
             for f in frontend["files"] if f.endswith(".onnx")]
    delegation = frontend.get("pte_delegation")
    split = "" if not delegation else (
        f" (XNNPACK runs {delegation['delegated_ops']} ops in {delegation['delegated_subgraphs']} subgraphs: "
        f"the DFT matmuls and most arithmetic; {delegation['non_delegated_ops']} portable ops: YIN's cumsum, "
        "argmax/argmin, gathers and masks)")
    lines += [f"- `{f}`{size[f]}: the ExecuTorch runtime with the XNNPACK backend and the portable kernels "
              f"linked{split}" for f in frontend["files"] if f.endswith(".pte")]
    return lines


def _audio(m: ModalitySpec, frontend: dict | None, files: dict) -> list[str]:
    if m.kind != A.KIND:
        return [f"`{m.kind}`: pre-computed features; edge-msa has no live extractor for this kind."]
    channels = (
        f"Channels per frame: 0-{A.N_MELS - 1} log-mel, (ln(mel power + {A.EPS:g}) - ({A.MEL_MEAN:g})) "
        f"/ {A.MEL_STD:g}; {A.N_MELS} pitch, ln(F0 / 50 Hz) when voiced (F0 in {A.F0_MIN:g}..{A.F0_MAX:g} "
        f"Hz, YIN threshold {A.YIN_THRESHOLD:g}), 0 when unvoiced or RMS < {A.VOICED_MIN_RMS:g}; "
        f"{A.N_MELS + 1} log energy, (ln(mean square + {A.EPS:g}) - ({A.ENERGY_MEAN:g})) / {A.ENERGY_STD:g}.")
    place = (
        f"Put frames into `audio` from slot 0 (oldest) and set `audio_mask` to 1.0 there; keep the most "
        f"recent {m.max_len} frames ({m.max_len / m.rate_hz:g} s). The edge-msa runtime feeds the frames "
        "of one utterance (voice activity) or of the last window, with mask 1.0 where speech was detected.")
    if frontend is None:
        return [f"This bundle has no front-end graph: compute `{A.KIND}` frames as "
                "`edge_msa.features.audio.frames_from_signal` does (16 kHz mono, 20 ms hop, 40 ms block "
                "with 20 ms of zeros before the first sample; pitch: `edge_msa.features.audio._yin_pitch`), "
                "or re-export the bundle (the front-end is on by default).", "", channels, "", place]
    names = " or ".join(f"`{f}`" for f in frontend["files"])
    inp, out = frontend["input"], frontend["output"]
    return [
        f"Run the front-end graph {names} on the window's audio: 16 kHz mono float PCM in [-1, 1] "
        f"(resample first; edge-msa uses FFmpeg's resampler for files). The graph is "
        f"{frontend.get('precision', 'float64')} throughout and runs with:",
        "",
        *_runtimes(frontend, files),
        "",
        f"- input `{inp['name']}`: {inp['dtype']} {_shape(inp['shape'])}, N samples, "
        f"N >= {inp['min_samples']} (fewer samples hold no frame)"
        + (f"; frontend.pte takes N <= {frontend['pte_max_samples']} (longer: chunks, below)"
           if "pte_max_samples" in frontend else ""),
        f"- output `{out['name']}`: {out['dtype']} {_shape(out['shape'])}, T = N // {A.HOP}; frame i is "
        f"centred at sample i * {A.HOP} (i * 20 ms) and reads the {A.BLOCK}-sample block around it, with "
        f"{A.BLOCK // 2} zeros before the first sample.",
        f"- longer streams: run chunks that start {A.HOP} samples before the first frame wanted and drop "
        "each chunk's first output frame; the frames then equal one run over the whole stream.",
        "- the graph computes all 42 channels, YIN pitch included: the app computes nothing else for audio.",
        "",
        channels,
        "",
        place,
        "",
        "Parity of the exported graph with the Python extractor "
        "(`edge_msa.features.audio.AudioFeaturizer.offline`, float64) on real speech, measured at export; a "
        "pitch frame differs where float32 rounding moves YIN's normalised difference across its threshold "
        "(another dip is taken), its pitch column excludes those frames:",
        "",
        *_parity(frontend),
    ]


def _vision(m: ModalitySpec) -> list[str]:
    if m.kind != LIVE.vision.kind:
        return [f"`{m.kind}`: pre-computed features; edge-msa has no live extractor for this kind."]
    names = ", ".join(f"{i} `{n}`" for i, n in enumerate(FEATURE_NAMES))
    b, p = len(BLENDSHAPE_NAMES), len(POSE_NAMES)
    return [
        f"One row per video frame with a face, {m.rate_hz:g} Hz; no face = no row (mask 0.0). "
        f"Reference: `edge_msa.features.face.FaceFeaturizer`.",
        "",
        f"- 0-{b - 1}: MediaPipe Face Landmarker's {b} blendshape scores in [0, 1], in its order "
        "(index 0 is `_neutral`)",
        f"- {b}-{b + p - 1}: head yaw, pitch, roll in radians divided by pi (signs: "
        "`edge_msa.features.face_pose`)",
        f"- {b + p}-{len(FEATURE_NAMES) - 1}: probabilities of {', '.join(EXPRESSIONS)} (FER2013 classifier "
        "on the grayscale face crop, `edge_msa.features.face_expression`), summing to 1",
        "",
        f"In order: {names}.",
    ]


def _input_shape(t) -> str:
    if t.min_shape is None:
        return str(t.shape)
    axes = (str(lo) if lo == hi else f"{lo}..{hi}" for lo, hi in zip(t.min_shape, t.shape, strict=True))
    return "[" + ", ".join(axes) + "]"


def _short_text(manifest: Manifest) -> list[str]:
    if not manifest.text_varies:
        return ["", "Every shape is static: pad each input to the length shown."]
    return ["", f"The text axis varies ({manifest.inputs[0].min_shape[1]}..{manifest.inputs[0].shape[1]} "
            "tokens): feed `text` and `text_mask` cut after [SEP] (or padded: the same score). The text "
            "encoder is most of a call, so a short utterance costs a fraction of a full window; "
            "with no words, feed 2 [PAD] ids with a zero mask."]


def inputs_markdown(manifest: Manifest) -> str:
    """The INPUTS.md of a bundle."""
    spec = manifest.feature_spec
    model_file = manifest.file_with_role("model")
    lines = [
        f"# Inputs of bundle `{manifest.name}`",
        "",
        f"Generated by edge-msa from manifest.json (format {manifest.format_version}); do not edit. "
        f"Model `{manifest.model}` ({manifest.family}), {manifest.format} {manifest.precision}: "
        f"`{model_file}`. "
        "Batch size 1; every input is required (an absent modality is zeros with an all-zero mask).",
        "",
        "## Inputs",
        "",
        "| name | shape | dtype | meaning |",
        "|---|---|---|---|",
        *(f"| `{t.name}` | {_input_shape(t)} | {t.dtype} | "
          f"{_meaning(t.name, spec.modality(t.name.split('_')[0]))} |" for t in manifest.inputs),
        *_short_text(manifest),
        "",
        f"## text: `{spec.text.kind}`",
        "",
        *_text(spec.text, manifest.files),
        "",
        f"## audio: `{spec.audio.kind}`",
        "",
        *_audio(spec.audio, manifest.frontend, manifest.files),
        "",
        f"## vision: `{spec.vision.kind}`",
        "",
        *_vision(spec.vision),
        "",
        "## Outputs",
        "",
        "| name | shape | dtype | meaning |",
        "|---|---|---|---|",
        *(f"| `{t.name}` | {t.shape} | {t.dtype} | "
          + (f"sentiment, {SCALES.get(manifest.scale, manifest.scale)} |" if t.name == "score" else
             "the model's uncertainty about the score (higher = less sure) |")
          for t in manifest.outputs),
        "",
        *_fusion_note(manifest),
    ]
    return "\n".join(lines)


def _fusion_note(manifest) -> list[str]:
    """What an evidence_fusion graph's score is: an app reading it should know it is stateless."""
    if manifest.family != "evidence_fusion":
        return []
    if manifest.overrides.get("fusion", "sum") == "sum":
        return ["`score` is the experts' evidence added and clipped to the scale (the summed graph).", ""]
    return ["`score` is the calibrated fusion for a person with no history: the voice read against "
            "calm English narration, the face relative to neutral, the experts fused by reliability "
            "and bounded; `uncertainty` grows when they disagree. Per-person baselines are state the "
            "graph does not keep: run each modality alone (the others' masks 0) and apply them as "
            "`docs/calibration.md` says, or use the Python runtime, which does.", "",
            *(["The text mask's height is the speech recogniser's confidence: multiply `text_mask` "
               "by it (0..1; 1 for typed text or a recogniser that gives none) and a doubted "
               "transcript counts less in `score` and leaves more `uncertainty`; what the words say is "
               "read from the tokens whose mask is above 0. Below 0.05 it counts as 0.05.", ""]
              if manifest.overrides.get("text_confidence", False) else [])]
