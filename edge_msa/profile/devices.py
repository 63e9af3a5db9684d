"""Device profiles (`devices/*.yaml`) and detection of the machine we run on.

Detection reads files and commands that exist on every Linux box, with the roots injectable so
tests run on fake `/proc`, `/sys`, `/etc` trees and fake `nvidia-smi` output.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from edge_msa.errors import UserError
from edge_msa.recipe_folders import shipped_folder


class DeviceProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    match: dict[str, str | int] = {}
    cpu: str
    gpu: str = "none"
    memory_gb: float
    jetpack: str | None = None
    backends: list[str]
    precision: str
    latency_budget_ms: float
    # The shipped tiers' bundle folders, fastest first, as measured here with `edge-msa profile`
    # (devices/results/): what a bare tier name (`--bundle default`, no --bundle) picks on this device.
    fastest_formats: list[str] = []


def default_devices_dir() -> Path:
    """`./devices` when the working directory has one, else the profiles edge-msa carries."""
    here = Path("devices")
    return here if here.is_dir() else shipped_folder("devices")


def load_profiles(directory: str | Path | None = None) -> list[DeviceProfile]:
    d = Path(directory) if directory else default_devices_dir()
    if not d.is_dir():
        raise UserError(f"device profile folder {d} does not exist")
    profiles = []
    for path in sorted(d.glob("*.yaml")):
        try:
            profiles.append(DeviceProfile(**yaml.safe_load(path.read_text())))
        except (yaml.YAMLError, TypeError, ValidationError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"bad device profile {path}: {first}") from None
    return profiles


@dataclass
class DeviceInfo:
    """What we could find out about this machine."""

    arch: str
    os: str
    cpu_model: str
    cores: int
    memory_gb: float
    gpu: str = "none"
    gpu_memory_gb: float = 0.0
    device_tree_model: str = ""  # Jetson / Raspberry Pi boards expose their name here
    jetpack: str = ""
    tensorrt: str = ""

    @property
    def device_id(self) -> str:
        """A stable, file-name friendly id: board name, else GPU, else CPU model + cores."""
        base = self.device_tree_model or (self.gpu if self.gpu != "none" else self.cpu_model)
        slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-") or "unknown"
        return f"{slug}-{self.cores}c" if not self.device_tree_model else slug

    def to_dict(self) -> dict:
        return {**asdict(self), "device_id": self.device_id}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _nvidia_smi() -> str:
    if not shutil.which("nvidia-smi"):
        return ""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout if out.returncode == 0 else ""


def _tensorrt_version() -> str:
    try:
        import tensorrt  # noqa: PLC0415 - only on devices that have it

        return str(tensorrt.__version__)
    except Exception:  # not installed or broken install: both mean "no TensorRT here"
        return ""


def detect_device(root: str | Path = "/", nvidia_smi: Callable[[], str] = _nvidia_smi,
                  tensorrt_version: Callable[[], str] = _tensorrt_version) -> DeviceInfo:
    """Describe the machine; `root` and the callables are injectable for tests."""
    root = Path(root)
    cpuinfo = _read(root / "proc/cpuinfo")
    names = re.findall(r"^(?:model name|Hardware|Model)\s*:\s*(.+)$", cpuinfo, re.M)
    cores = len(re.findall(r"^processor\s*:", cpuinfo, re.M)) or (os.cpu_count() or 1)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read(root / "proc/meminfo"), re.M)
    info = DeviceInfo(
        arch=platform.machine(),
        os="linux" if (root / "proc").is_dir() else platform.system().lower(),
        cpu_model=names[0].strip() if names else platform.processor() or "unknown CPU",
        cores=cores,
        memory_gb=round(int(mem.group(1)) / 1024**2, 1) if mem else 0.0,
        device_tree_model=_read(root / "proc/device-tree/model").strip("\x00\n "),
    )
    smi = nvidia_smi().strip()
    if smi:
        name, _, total = smi.splitlines()[0].partition(",")
        info.gpu = name.strip()
        info.gpu_memory_gb = round(float(total.strip() or 0) / 1024, 1)
    elif "jetson" in info.device_tree_model.lower() or "orin" in info.device_tree_model.lower():
        info.gpu = "integrated (Jetson)"
    release = _read(root / "etc/nv_tegra_release")
    if release:
        m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", release)
        info.jetpack = f"L4T R{m.group(1)}.{m.group(2)}" if m else release.splitlines()[0]
    info.tensorrt = tensorrt_version()
    return info


def match_profile(info: DeviceInfo, profiles: list[DeviceProfile]) -> DeviceProfile | None:
    """The first profile whose `match` keys all agree with the detected machine."""
    for p in profiles:
        rules = p.match
        if not rules:
            continue
        ok = True
        for key, want in rules.items():
            if key == "device_tree_model":
                ok &= str(want).lower() in info.device_tree_model.lower()
            elif key == "max_cores":
                ok &= info.cores <= int(want)
            elif key == "gpu":
                ok &= (info.gpu == "none") == (str(want) == "none")
            elif key in ("arch", "os"):
                ok &= getattr(info, key) == str(want)
            else:
                ok = False  # an unknown rule never matches silently
        if ok:
            return p
    return None


@functools.cache  # once per process: the machine does not change under a run
def fastest_formats() -> tuple[str, ...]:
    """This machine's shipped bundle formats fastest first: from the profile it matches among the
    profiles edge-msa carries, else measured once on the default tier and cached (`measured_formats`).

    Detection here skips importing TensorRT (seconds on a Jetson): no match rule reads it."""
    info = detect_device(tensorrt_version=lambda: "")
    profile = match_profile(info, load_profiles(shipped_folder("devices")))
    if profile is not None and profile.fastest_formats:
        return tuple(profile.fastest_formats)
    return measured_formats(info.device_id)


MEASURE_CALLS = 40  # per format, interleaved over 4 rounds after 5 warm-up calls: ~1 s on a 2-core x86


def measured_formats(device_id: str, tier: str = "default") -> tuple[str, ...]:
    """The tier's bundle formats that run here, by median latency per call on profile inputs,
    measured on the first run of a device no profile describes and kept in the cache folder
    (`fastest-formats.json`, per device and edge-msa version). One format or none: nothing to measure."""
    import json
    import sys
    from importlib.metadata import version

    from edge_msa.cache import cache_dir
    from edge_msa.runtime.backends import runs_here
    from edge_msa.runtime.tiers import ASSETS, tier_bundles

    formats = [f for f in tier_bundles(tier) if runs_here(ASSETS / tier / f)]
    if len(formats) < 2:
        return tuple(formats)
    path, key = cache_dir() / "fastest-formats.json", f"{device_id} edge-msa {version('edge-msa')} {tier}"
    known = json.loads(path.read_text()) if path.is_file() else {}
    if sorted(known.get(key, [])) != sorted(formats):
        print(f"edge-msa: timing {', '.join(formats)} once on this device (no profile in devices/ "
              f"describes it); kept in {path}", file=sys.stderr)
        known[key] = _rank_by_latency(tier, formats)
        path.write_text(json.dumps(known, indent=2) + "\n")
    return tuple(known[key])


def _rank_by_latency(tier: str, formats: list[str]) -> list[str]:
    from edge_msa.export.bundle import bundle_tokenizer
    from edge_msa.profile.latency import interleaved_medians
    from edge_msa.profile.runner import profile_inputs
    from edge_msa.runtime.backends import load_backend
    from edge_msa.runtime.tiers import ASSETS

    calls = {}
    for fmt in formats:
        backend = load_backend(ASSETS / tier / fmt, "auto", threads=1)  # the runtime's one thread
        inputs = profile_inputs(backend.spec, tokenizer=bundle_tokenizer(backend.bundle))
        calls[fmt] = functools.partial(backend.predict, inputs)
    medians = interleaved_medians(calls, total=MEASURE_CALLS, rounds=4)
    return sorted(formats, key=medians.__getitem__)
