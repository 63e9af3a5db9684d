"""A built wheel, installed outside the checkout, resolves every named export and calibration
recipe, pipeline config and device profile from a working directory that has none of them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# what a source tree needs to build the wheel (the rest of the checkout is not packaged)
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "edge_msa", "export", "runtime",
                "calibration", "devices")

RESOLVE = """
import json
from pathlib import Path

import edge_msa
from edge_msa.export.recipes import find_recipe, load_calibration_recipe, load_export_recipe
from edge_msa.profile.devices import default_devices_dir, load_profiles
from edge_msa.runtime.config import find_config, load_config

names = json.loads(Path("names.json").read_text())
print(json.dumps({
    "package": edge_msa.__file__,
    "export": {n: [str(find_recipe(n, "export")), load_export_recipe(n).name] for n in names["export"]},
    "calibration": {n: [str(find_recipe(n, "calibration")), load_calibration_recipe(n).name]
                    for n in names["calibration"]},
    "runtime": {n: [str(find_config(n)), load_config(n).model_dump_json()] for n in names["runtime"]},
    "devices": [str(default_devices_dir()), sorted(p.id for p in load_profiles())],
}))
"""


def _stems(folder: str) -> list[str]:
    return sorted(p.stem for p in (REPO / folder).glob("*.yaml"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`pip wheel` of a copy of the sources, then `pip install --no-deps --target` of that wheel."""
    root = tmp_path_factory.mktemp("wheel")
    src, dist, target = root / "src", root / "dist", root / "site"
    src.mkdir()
    for name in BUILD_INPUTS:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                         if (REPO / name).is_dir() else {}))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # no build isolation: setuptools is installed here, and nothing is fetched
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
                   check=True, capture_output=True)
    (wheel,) = dist.glob("edge_msa-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    return target


def test_wheel_resolves_every_named_recipe_config_and_profile(installed, tmp_path):
    names = {"export": _stems("export"), "calibration": _stems("calibration"), "runtime": _stems("runtime")}
    assert names["export"] and names["calibration"] and "jetson-csi" in names["runtime"]
    (tmp_path / "names.json").write_text(json.dumps(names))
    env = {**os.environ, "PYTHONPATH": str(installed)}
    out = subprocess.run([sys.executable, "-c", RESOLVE], cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    site = str(installed)
    assert got["package"].startswith(site)  # the wheel's copy, not the checkout's editable install
    for folder in ("export", "calibration"):
        for name, (path, loaded) in got[folder].items():
            assert path == f"{site}/edge_msa/recipes/{folder}/{name}.yaml" and loaded == name
    for name, (path, dumped) in got["runtime"].items():
        assert path == f"{site}/edge_msa/recipes/runtime/{name}.yaml"
        assert json.loads(dumped) == json.loads(_config_json(name))
    folder, ids = got["devices"]
    assert folder == f"{site}/edge_msa/recipes/devices"
    assert ids == sorted(_device_ids())


def _config_json(name: str) -> str:
    from edge_msa.runtime.config import load_config

    return load_config(REPO / "runtime" / f"{name}.yaml").model_dump_json()


def _device_ids() -> list[str]:
    from edge_msa.profile.devices import load_profiles

    return [p.id for p in load_profiles(REPO / "devices")]
