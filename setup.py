"""Build step: a wheel carries the repository's recipe folders (export/, runtime/, calibration/,
devices/ without its measured results) as edge_msa/recipes/, so named recipes, pipeline configs and
device profiles resolve outside the checkout. An editable install reads the folders in place.
Everything else about the package is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RECIPE_FOLDERS = ("export", "runtime", "calibration", "devices")


class BuildPyWithRecipes(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for name in RECIPE_FOLDERS:
            target = Path(self.build_lib, "edge_msa", "recipes", name)
            shutil.copytree(ROOT / name, target, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("results", "__pycache__"))


setup(cmdclass={"build_py": BuildPyWithRecipes})
