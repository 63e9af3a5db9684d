"""One rule for every path a command writes, checked before the command does any work.

    check_outputs({"--jsonl": jsonl, "--json": json_out}, inputs={"--audio": audio}, force=force)
    check_outputs({}, folders={"--out": out}, inputs={"RUN": run}, force=force)

The rule (docs/reliability.md, "outputs are never overwritten without --force"):
- an output never replaces an input of the same command (`run --audio x.wav --jsonl x.wav` used
  to truncate x.wav), nor anything inside an input folder (`eval RUN --json RUN/model.safetensors`),
  and a folder output never holds an input, not even with `--force`; a command that reads only
  some files of a folder passes those files, not the folder;
- an existing output file, or an existing non-empty output folder, is replaced only with `--force`;
- a file output goes into an existing, writable folder; a folder output (run folder, bundle) is
  created with its parents, so the nearest existing one must be a writable folder.
It runs before any model loads: a typo in an output path costs a second, not a training run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from edge_msa.errors import UserError

PathArg = str | Path | None
Inputs = Mapping[str, PathArg | Iterable[PathArg]]


def check_outputs(files: Mapping[str, PathArg], *, force: bool, inputs: Inputs | None = None,
                  folders: Mapping[str, PathArg] | None = None) -> None:
    """Refuse (one `UserError` line) any output that breaks the rule above.

    `files` and `folders` map the option that names an output ("--json", "OUT") to its path,
    `inputs` map the option of each input to a path or several (None and missing ones are skipped).
    """
    named = [(option, Path(p), False) for option, p in files.items() if p is not None]
    named += [(option, Path(p), True) for option, p in (folders or {}).items() if p is not None]
    existing = list(_existing_inputs(inputs or {}))
    seen: dict[Path, str] = {}
    for option, path, is_folder in named:
        key = path.resolve()
        if key in seen:
            raise UserError(f"{seen[key]} and {option} both name {path}: give each output its own path")
        seen[key] = option
        _check_not_an_input(option, path, is_folder, existing)
        if is_folder:
            _check_folder(path, force)
        else:
            _check_file(path, force)


def _existing_inputs(inputs: Inputs) -> Iterable[tuple[str, Path]]:
    # a path that does not exist cannot be destroyed, and a bare name (a recipe, a camera) is no file;
    # nor is a name the system refuses to look up (too long, a NUL byte): the command reports it later
    for option, value in inputs.items():
        values = [value] if value is None or isinstance(value, (str, Path)) else value
        for v in values:
            if v is not None and _exists(Path(v)):
                yield option, Path(v)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _check_not_an_input(option: str, out: Path, is_folder: bool, inputs: list[tuple[str, Path]]) -> None:
    target = out.resolve()
    replaces = out.is_dir() and any(out.iterdir()) if is_folder else out.exists()
    for name, path in inputs:
        source = path.resolve()
        if target == source or (out.exists() and os.path.samefile(out, path)):  # hard links too
            why = f"is the {name} input of this command"
        elif is_folder and source.is_relative_to(target):
            why = f"holds the {name} input {path}"
        elif replaces and path.is_dir() and target.is_relative_to(source):
            why = f"would replace {'a folder' if is_folder else 'a file'} inside the {name} input {path}"
        else:
            continue
        raise UserError(f"{option} {out} {why}: an output never replaces an input, even with --force")


def _check_file(path: Path, force: bool) -> None:
    if path.is_dir():
        raise UserError(f"{path} is a folder: name a file to write")
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to replace it")
    _check_writable(path.parent, path, create=False)


def _check_folder(path: Path, force: bool) -> None:
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file, not a folder: name a folder to write")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise UserError(f"{path} exists and is not empty; pass --force to replace it")
    _check_writable(path if path.is_dir() else path.parent, path, create=True)


def _check_writable(folder: Path, out: Path, *, create: bool) -> None:
    """`folder` (or, when outputs may create it, its nearest existing parent) takes new files."""
    if create:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    if not folder.exists():
        raise UserError(f"output folder {folder} does not exist (for {out})")
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder, so {out} cannot be written")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {out}: folder {folder} is not writable")
