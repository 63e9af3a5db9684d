"""Named files of the repository's top-level folders: export recipes (`export/`), pipeline configs
(`runtime/`), calibration recipes (`calibration/`) and device profiles (`devices/`).

A name is looked up in the working directory's folder of that name first (a user's own recipes),
then in the copy edge-msa carries: the checkout's folders for an editable install, or
`edge_msa/recipes/` inside an installed wheel (setup.py copies the folders there at build time).
So `--recipe android-xnnpack-int8`, `--config jetson-csi` and the device profiles resolve from
any working directory.
"""

from __future__ import annotations

from pathlib import Path

from edge_msa.errors import UserError

FOLDERS = ("export", "runtime", "calibration", "devices")
PACKAGED = Path(__file__).resolve().parent / "recipes"  # present in a built wheel only
CHECKOUT = Path(__file__).resolve().parents[1]  # the repository, when the package runs from one


def shipped_folder(folder: str) -> Path:
    """Where this installation keeps `folder` (it may not exist in a stripped install)."""
    if folder not in FOLDERS:
        raise ValueError(f"unknown recipe folder {folder!r}")
    packaged = PACKAGED / folder
    if packaged.is_dir() or not (CHECKOUT / "pyproject.toml").is_file():
        return packaged
    return CHECKOUT / folder


def search_folders(folder: str) -> list[Path]:
    """The folders a name is looked up in, first match wins."""
    return [Path.cwd() / folder, shipped_folder(folder)]


def is_path(value: str | Path) -> bool:
    """A value that names a file (has a YAML suffix or a folder part) rather than a recipe name."""
    given = Path(value)
    return given.suffix in (".yaml", ".yml") or given.parent != Path(".")


def known_names(folder: str) -> list[str]:
    return sorted({p.stem for root in search_folders(folder) if root.is_dir() for p in root.glob("*.yaml")})


def find_named(value: str | Path, folder: str, what: str) -> Path:
    """The file `value` names: itself when it is a path, else `<folder>/<value>.yaml` in the
    working directory or the installed copy. `what` ("export recipe", "pipeline config") words
    the one-line error."""
    given = Path(value)
    if is_path(given):
        if not given.is_file():
            raise UserError(f"{what} file {given} does not exist")
        return given
    for root in search_folders(folder):
        if (root / f"{given}.yaml").is_file():
            return root / f"{given}.yaml"
    raise UserError(f"no {what} named {str(given)!r}; known: {', '.join(known_names(folder)) or 'none'}")
