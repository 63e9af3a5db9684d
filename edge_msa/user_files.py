"""Reading files a user hands in, with every mistake as one `UserError` line.

Recipes, pipeline configs and bundle manifests all go through `read_yaml`/`validated`, so a bad
file reads the same way everywhere: `<file>: <field>: <what is wrong>`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from edge_msa.errors import UserError

Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every typed user file: an unknown key is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def read_yaml(path: Path) -> object:
    """The parsed document; a syntax error names the file and the first line of the parser's message."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None


def validated(cls: type[Model], raw: object, source: str, top: str) -> Model:
    """`cls.model_validate(raw)`; the first error becomes `source: field: message` (`top` when the
    error is about the whole document)."""
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or top
        raise UserError(f"{source}: {where}: {first['msg'].removeprefix('Value error, ')}") from None


def jsonl_objects(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSON-lines file; anything else is one error.

    Lines end at '\\n' only (JSON lines' own rule): U+2028 or a form feed inside a string is text."""
    out = []
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}, line {i}: not JSON ({e.msg})") from None
        except (ValueError, RecursionError) as e:  # a 5000-digit integer; arrays nested 10^5 deep
            why = str(e) or "nested too deeply"
            raise UserError(f"{path}, line {i}: not JSON this reader accepts ({why})") from None
        if not isinstance(rec, dict):
            raise UserError(f"{path}, line {i}: expected a JSON object per line")
        out.append((i, rec))
    return out


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (bundle files and model weights are tens of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
