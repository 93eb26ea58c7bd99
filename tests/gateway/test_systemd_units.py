"""The systemd units in docs/systemd/: systemd accepts them, their hardening keeps the exposure
low, their commands are ones ``sekimori`` understands, and each waits for its own ``/readyz``."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import build_parser

UNITS = sorted((Path(__file__).resolve().parents[2] / "docs" / "systemd").glob("sekimori-*.service"))
SEKIMORI = str(Path(sys.executable).with_name("sekimori"))


def test_there_is_a_unit_for_smtp_proxy_and_ui() -> None:
    assert [u.name for u in UNITS] == [
        "sekimori-proxy.service",
        "sekimori-smtp.service",
        "sekimori-ui.service",
    ]


def _settings(unit: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in unit.read_text(encoding="utf-8").splitlines()
        if re.match(r"^\w+=", line)
    )


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_is_hardened_runs_known_commands_and_waits_for_readiness(unit: Path, tmp_path: Path) -> None:
    s = _settings(unit)
    assert s["ProtectSystem"] == "strict" and s["NoNewPrivileges"] == "yes"
    assert s["ReadWritePaths"] == "/var/lib/sekimori"
    start = shlex.split(s["ExecStart"])[1:]
    post = shlex.split(s["ExecStartPost"])[1:]
    build_parser().parse_args(start)  # a command sekimori has, with options it knows
    build_parser().parse_args(post)
    assert post[0] == "ready" and post[1].endswith("/readyz")
    port = re.search(r":(\d+)/readyz$", post[1]).group(1)  # type: ignore[union-attr]
    assert f"--metrics-port {port}" in s["ExecStart"] or start[0] == "ui"
    # systemd itself reads it (with the executable where this test finds it).
    local = tmp_path / unit.name
    local.write_text(unit.read_text(encoding="utf-8").replace("/opt/sekimori/.venv/bin/sekimori", SEKIMORI))
    verified = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(local)], capture_output=True, text=True
    )
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert exposure is not None, security.stdout[-500:] + security.stderr
    assert float(exposure.group(1)) <= 2.5, security.stdout[-2000:]
