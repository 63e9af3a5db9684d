"""Device detection on fake /proc trees and fake nvidia-smi output; profile matching."""

from pathlib import Path

import pytest

from edge_msa.errors import UserError
from edge_msa.profile.devices import detect_device, load_profiles, match_profile

REPO = Path(__file__).resolve().parents[1]


def _fake_root(tmp_path: Path, cpuinfo: str, model: str | None = None, tegra: str | None = None) -> Path:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(cpuinfo)
    (tmp_path / "proc/meminfo").write_text("MemTotal:        7999876 kB\nMemFree: 1 kB\n")
    if model is not None:
        (tmp_path / "proc/device-tree").mkdir()
        (tmp_path / "proc/device-tree/model").write_text(model + "\x00")
    if tegra is not None:
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc/nv_tegra_release").write_text(tegra)
    return tmp_path


def test_jetson_orin_nano_is_detected_and_matched(tmp_path):
    cpu = "".join(f"processor\t: {i}\nmodel name\t: ARMv8 Processor rev 1 (v8l)\n\n" for i in range(6))
    root = _fake_root(tmp_path, cpu, "NVIDIA Jetson Orin Nano Developer Kit",
                      "# R36 (release), REVISION: 4.3, GCID: 1, BOARD: generic, EABI: aarch64\n")
    info = detect_device(root, nvidia_smi=lambda: "", tensorrt_version=lambda: "10.3.0")
    assert info.cores == 6
    assert info.memory_gb == pytest.approx(7.6, abs=0.1)
    assert info.jetpack == "L4T R36.4.3"
    assert info.tensorrt == "10.3.0"
    assert info.gpu == "integrated (Jetson)"
    assert info.device_id == "nvidia-jetson-orin-nano-developer-kit"
    assert match_profile(info, load_profiles(REPO / "devices")).id == "jetson-orin-nano-8gb"


def test_discrete_gpu_from_nvidia_smi(tmp_path):
    cpu = "".join(f"processor\t: {i}\nmodel name\t: Intel(R) Xeon(R) Gold\n" for i in range(16))
    root = _fake_root(tmp_path, cpu)
    info = detect_device(root, nvidia_smi=lambda: "NVIDIA H100 80GB HBM3, 81559\n",
                         tensorrt_version=lambda: "")
    assert info.gpu == "NVIDIA H100 80GB HBM3"
    assert info.gpu_memory_gb == pytest.approx(79.6, abs=0.1)
    assert info.device_id == "nvidia-h100-80gb-hbm3-16c"
    # a GPU box with 16 cores matches neither the 2-core CPU class nor a board
    assert match_profile(info, load_profiles(REPO / "devices")) is None


def test_raspberry_pi_5(tmp_path):
    cpu = "".join(f"processor\t: {i}\nBogoMIPS\t: 108.00\n" for i in range(4))
    cpu += "Model\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
    info = detect_device(_fake_root(tmp_path, cpu, "Raspberry Pi 5 Model B Rev 1.0"),
                         nvidia_smi=lambda: "", tensorrt_version=lambda: "")
    assert info.cpu_model == "Raspberry Pi 5 Model B Rev 1.0"
    assert match_profile(info, load_profiles(REPO / "devices")).id == "raspberry-pi-5"


def test_every_shipped_profile_loads():
    ids = {p.id for p in load_profiles(REPO / "devices")}
    assert {"x86-cpu-2core", "raspberry-pi-5", "jetson-orin-nano-8gb", "jetson-orin-nx-16gb",
            "jetson-agx-orin", "android-pixel-8", "iphone-15-pro"} <= ids


def test_bad_profile_is_a_clear_error(tmp_path):
    (tmp_path / "x.yaml").write_text("id: x\nname: y\n")
    with pytest.raises(UserError, match="bad device profile"):
        load_profiles(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        load_profiles(tmp_path / "nope")
