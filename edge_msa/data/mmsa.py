"""Reader for the MMSA feature files of CMU-MOSI, CMU-MOSEI and CH-SIMS.

The field ships them as pickles (`aligned_50.pkl`, `unaligned_50.pkl`, `unaligned_39.pkl`):
`{"train"|"valid"|"test": {"raw_text", "id", "text" [N,T,768] BERT features, "text_bert"
[N,3,T] (token ids, attention mask, segment ids), "audio" [N,Ta,Da], "vision" [N,Tv,Dv],
"audio_lengths", "vision_lengths", "regression_labels" [N], ...}}`.

Loading a pickle runs whatever code it names, so it needs `trust_pickle=True`; `convert_pickle`
rewrites one (once, trusted) as a plain `.npz` that loads with `allow_pickle=False`.

What the reader does, per split:
- text: a `features:*` spec (or no spec) takes `text` (BERT features); a `tokens:*` spec takes
  the ids row of `text_bert` (bert-base-uncased ids, the MiniLM vocabulary). SIMS's ids are
  bert-base-chinese, so a tokens spec on SIMS is refused. Text mask = the attention-mask row of
  `text_bert` when present, else the non-zero frames.
- audio/vision: -inf, +inf and NaN become 0 (COVAREP/librosa log features hold -inf); masks
  from `*_lengths` when present, else 1 on frames that are not all zero.
- time axes are kept as stored (unaligned MOSI audio has 375 frames); with a spec, feature sizes
  must match it.
- scale: `scale=` if given, else "sims" when the file has SIMS's unimodal labels
  (`regression_labels_T`), or its name says sims, or every label lies in [-1, 1]; else "mosi".
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.features.spec import MODALITIES, NAMED_SPECS, FeatureSpec, ModalitySpec, get_spec

SPLITS = ("train", "valid", "test")
NPZ_FORMAT = "edge-msa/mmsa-npz/1"
REQUIRED = ("audio", "vision", "regression_labels")


def _refuse_pickle(path: Path) -> UserError:
    return UserError(
        f"{path} is a pickle, and loading a pickle runs code stored in it: pass --trust-pickle "
        f"(trust_pickle=True) only for a file from a source you trust, or convert it once with "
        f"`edge-msa data convert {path} OUT.npz --trust-pickle` and use the .npz")


def _read_pickle(path: Path, trust_pickle: bool) -> dict:
    if not trust_pickle:
        raise _refuse_pickle(path)
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except (OSError, MemoryError):
        raise
    except Exception as e:  # unpickling raises almost anything on a foreign or broken file
        raise UserError(f"{path} is not a readable pickle ({type(e).__name__}: {e})") from None


def _read_npz(path: Path) -> tuple[dict, str]:
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UserError(f"{path} is not a readable .npz file ({e})") from None
    with z:
        try:  # members load lazily: an object array (pickled) is refused here, not at np.load
            if "__format__" not in z.files or str(z["__format__"]) != NPZ_FORMAT:
                raise UserError(f"{path} is not an MMSA .npz written by `edge-msa data convert`")
            raw: dict = {}
            for key in z.files:
                if "/" in key:
                    split, name = key.split("/", 1)
                    raw.setdefault(split, {})[name] = z[key]
            return raw, str(z["__source__"])
        except (ValueError, OSError, KeyError) as e:
            raise UserError(f"{path} is not a readable MMSA .npz ({e})") from None


def _check_layout(raw, path: Path) -> None:
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a dict of splits, found {type(raw).__name__}")
    missing = [s for s in SPLITS if s not in raw]
    if missing:
        raise UserError(f"{path}: missing split(s) {missing}; found keys {sorted(map(str, raw))}")
    for s in SPLITS:
        if not isinstance(raw[s], dict):
            raise UserError(f"{path}: split {s!r} is a {type(raw[s]).__name__}, expected a dict")
        lacking = [k for k in REQUIRED if k not in raw[s]]
        if "text" not in raw[s] and "text_bert" not in raw[s]:
            lacking.append("text or text_bert")
        if lacking:
            raise UserError(f"{path}: split {s!r} lacks {lacking}; found {sorted(raw[s])}")


def _read_raw(path: str | Path, trust_pickle: bool) -> tuple[dict, str]:
    """The file's nested dict of arrays and the name of the file it came from."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such MMSA feature file: {path}")
    if path.suffix == ".npz":
        raw, source = _read_npz(path)
    else:
        raw, source = _read_pickle(path, trust_pickle), path.name
    _check_layout(raw, path)
    return raw, source


def _storable(value) -> np.ndarray | None:
    """The value as a numeric or string array np.load reads without pickle, else None."""
    arr = np.asarray(value)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float32) if arr.dtype.kind == "f" else arr
    if arr.dtype.kind in "US" or (arr.dtype == object and all(isinstance(v, str) for v in arr.ravel())):
        return arr.astype(str)
    return None


def convert_pickle(pkl: str | Path, out_npz: str | Path, *, trust_pickle: bool = False) -> dict[str, int]:
    """Rewrite an MMSA pickle as a safe `.npz`; returns the rows per split.

    Floats are stored as float32 (what the reader uses anyway); strings as unicode arrays;
    entries that are neither (none in the released files) are left out.
    """
    pkl, out_npz = Path(pkl), Path(out_npz)
    if out_npz.suffix != ".npz":
        raise UserError(f"output {out_npz} must end in .npz")
    if pkl.suffix == ".npz":
        raise UserError(f"{pkl} is already an .npz file; nothing to convert")
    raw, source = _read_raw(pkl, trust_pickle)
    arrays = {"__format__": np.array(NPZ_FORMAT), "__source__": np.array(source)}
    for split in SPLITS:
        for key, value in raw[split].items():
            arr = _storable(value)
            if arr is not None:
                arrays[f"{split}/{key}"] = arr
    # write beside OUT, then rename: a failure never leaves a half-written OUT behind
    partial = out_npz.with_name(f".{out_npz.stem}.partial.npz")
    try:
        np.savez(partial, **arrays)  # uncompressed: loads at disk speed
        os.replace(partial, out_npz)
    finally:
        partial.unlink(missing_ok=True)
    return {s: len(np.asarray(raw[s]["regression_labels"]).reshape(-1)) for s in SPLITS}


def _frames(value, name: str, n: int, dim: int | None, where: str) -> np.ndarray:
    x = np.asarray(value, dtype=np.float32)
    if x.ndim != 3 or x.shape[0] != n:
        raise UserError(f"{where}: {name} has shape {x.shape}, expected [{n}, T, D]")
    if dim is not None and x.shape[2] != dim:
        raise UserError(f"{where}: {name} has {x.shape[2]} features per frame but the spec wants {dim}")
    if not np.isfinite(x).all():
        x = np.where(np.isfinite(x), x, np.float32(0))
    return x


def _mask(d: dict, name: str, x: np.ndarray, where: str) -> np.ndarray:
    t = x.shape[1]
    key = f"{name}_lengths"
    if key in d:
        lengths = np.asarray(d[key]).reshape(-1)
        if lengths.shape[0] != x.shape[0]:
            raise UserError(f"{where}: {key} has {lengths.shape[0]} entries for {x.shape[0]} samples")
        return (np.arange(t)[None, :] < lengths[:, None]).astype(np.float32)
    return np.any(x != 0, axis=2).astype(np.float32)


def _text(d: dict, n: int, spec: FeatureSpec | None, scale: str, where: str):
    tb = None
    if "text_bert" in d:
        tb = np.asarray(d["text_bert"])
        if tb.ndim != 3 or tb.shape[:2] != (n, 3):
            raise UserError(f"{where}: text_bert has shape {tb.shape}, expected [{n}, 3, T]")
    if spec is not None and spec.text.is_tokens:
        if tb is None:
            raise UserError(f"{where}: spec {spec.text.kind!r} needs token ids but the file has no text_bert")
        if scale == "sims":
            raise UserError(f"{where}: SIMS token ids are bert-base-chinese, not the vocabulary of "
                            f"{spec.text.kind!r}; use a features:bert-768 spec")
        return np.rint(tb[:, 0]).astype(np.int64), tb[:, 1].astype(np.float32)
    if "text" not in d:
        raise UserError(f"{where}: a feature spec needs BERT features but the file has no 'text'")
    text = _frames(d["text"], "text", n, spec.text.dim if spec else None, where)
    if tb is not None and tb.shape[2] == text.shape[1]:
        return text, tb[:, 1].astype(np.float32)
    return text, np.any(text != 0, axis=2).astype(np.float32)


def _strings(d: dict, key: str, n: int) -> list[str]:
    return [str(v) for v in np.asarray(d[key]).reshape(-1)] if key in d else [""] * n


def _split(d: dict, spec: FeatureSpec | None, scale: str, where: str) -> MSAData:
    labels = np.asarray(d["regression_labels"], dtype=np.float32).reshape(-1)
    n = len(labels)
    text, text_mask = _text(d, n, spec, scale, where)
    mods = {}
    for m in ("audio", "vision"):
        x = _frames(d[m], m, n, spec.modality(m).dim if spec else None, where)
        mods[m], mods[f"{m}_mask"] = x, _mask(d, m, x, where)
    return MSAData(text=text, text_mask=text_mask, labels=labels, ids=_strings(d, "id", n),
                   raw_text=_strings(d, "raw_text", n), scale=scale, **mods)


def _infer_scale(raw: dict, source: str) -> str:
    if any("regression_labels_T" in raw[s] for s in SPLITS) or "sims" in source.lower():
        return "sims"
    top = max(float(np.max(np.abs(np.asarray(raw[s]["regression_labels"], np.float32)), initial=0))
              for s in SPLITS)
    return "sims" if top <= 1.0 else "mosi"


def load_mmsa(path: str | Path, trust_pickle: bool = False, spec: FeatureSpec | str | None = None,
              scale: str | None = None) -> dict[str, MSAData]:
    """Load an MMSA `.pkl` (needs trust_pickle=True) or a converted `.npz` into train/valid/test."""
    if scale not in (None, "mosi", "sims"):
        raise UserError(f"unknown label scale {scale!r}; expected 'mosi' or 'sims'")
    spec = get_spec(spec) if spec is not None else None
    raw, source = _read_raw(path, trust_pickle)
    scale = scale or _infer_scale(raw, source)
    return {s: _split(raw[s], spec, scale, f"{Path(path).name} [{s}]") for s in SPLITS}


def spec_of_features(split: MSAData) -> FeatureSpec:
    """The FeatureSpec of feature data read without one (an MMSA file's own features).

    Kinds come from the named spec with the same feature sizes (MOSI, MOSEI, SIMS); lengths are
    the file's time axes (unaligned files differ from the named specs there).
    """
    arrays = (split.text, split.audio, split.vision)
    dims = tuple(a.shape[2] for a in arrays)
    base = next((s for s in NAMED_SPECS.values() if not s.text.is_tokens
                 and (s.text.dim, s.audio.dim, s.vision.dim) == dims), None)
    mods = {m: ModalitySpec(base.modality(m).kind if base else f"{'features' if m == 'text' else m}:mmsa-{d}",
                            d, a.shape[1])
            for m, a, d in zip(MODALITIES, arrays, dims, strict=True)}
    spec = FeatureSpec(**mods, name=base.name if base else "mmsa-features")
    return spec if base is None or spec == base else FeatureSpec(**mods, name=f"{base.name}-as-stored")
