"""bench/model.py names the CPU its figures were measured on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.model import cpu_description


def test_the_cpu_is_named_with_torchs_capability_and_its_vnni_flags():
    cpu = cpu_description()
    assert cpu["model_name"]
    assert cpu["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to compare with")
    flags = next(
        (
            line.split(":", 1)[1].split()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("flags")
        ),
        [],
    )
    vnni = sorted(flag for flag in flags if "vnni" in flag)
    assert cpu["vnni"] == (", ".join(vnni) if vnni else "no")
