"""The ``sekimori`` command itself: ``--version``, and every way a bad file can reach a command
ends in a line naming the file (and line) and an exit status, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.cli import main, version

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s" * 40


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"sekimori {version()}" != "sekimori unknown"


def _config(tmp: Path, *, policy: Path | None = None, smtp: str = "{port: 1}", secret: str = SECRET) -> Path:
    path = tmp / "sekimori.yaml"
    path.write_text(
        f"secret: {secret}\nsmtp: {smtp}\nstore: {{path: {tmp / 'var'}}}\n"
        f"policy: {{path: {policy or ROOT / 'policies' / 'default.yaml'}}}\nscan: {{workers: 0}}\n",
        encoding="utf-8",
    )
    return path


def _policy_without_directory(tmp: Path) -> Path:
    text = (ROOT / "policies" / "default.yaml").read_text(encoding="utf-8")
    path = tmp / "policy.yaml"
    path.write_text(text.replace("examples/directory.csv", "missing/directory.csv"), encoding="utf-8")
    return path


def _bad_yaml(tmp: Path) -> Path:
    path = tmp / "policy.yaml"
    path.write_text("version: 1\nrules: [\n", encoding="utf-8")
    return path


def _garbage_tls(tmp: Path) -> str:
    pem = tmp / "garbage.pem"
    pem.write_text("not a certificate\n", encoding="utf-8")
    return f"{{port: 1, tls: {{cert: {pem}, key: {pem}}}}}"


Case = tuple[Callable[[Path], list[str]], int, str, str]
CASES: dict[str, Case] = {
    # The policy's directory file is missing: the same lines as `sekimori policy check`.
    "run, policy directory missing": (
        lambda t: ["run", "--config", str(_config(t, policy=_policy_without_directory(t)))],
        2,
        "policy.yaml:",
        "organisation.directory",
    ),
    "smtp, policy not YAML": (
        lambda t: ["smtp", "--config", str(_config(t, policy=_bad_yaml(t)))],
        2,
        "policy.yaml:3:",
        "YAML",
    ),
    "ui, policy directory missing": (
        lambda t: ["ui", "--config", str(_config(t, policy=_policy_without_directory(t)))],
        2,
        "policy.yaml:",
        "organisation.directory",
    ),
    "run, policy file missing": (
        lambda t: ["run", "--config", str(_config(t, policy=t / "none.yaml"))],
        2,
        "policy.path: no such file",
        "none.yaml",
    ),
    "run, certificate not PEM": (
        lambda t: ["run", "--config", str(_config(t, smtp=_garbage_tls(t)))],
        2,
        "sekimori.yaml:2: smtp.tls",
        "garbage.pem",
    ),
    "run, secret from an unset variable": (
        lambda t: ["run", "--config", str(_config(t, secret="env:SEKIMORI_TEST_UNSET"))],
        2,
        "sekimori.yaml:1: secret",
        "SEKIMORI_TEST_UNSET",
    ),
    "run, config is a folder": (lambda t: ["run", "--config", str(t)], 2, "cannot read", "Is a directory"),
    "run, config missing": (lambda t: ["run", "--config", str(t / "no.yaml")], 2, "cannot read", "no.yaml"),
    "policy check, directory missing": (
        lambda t: ["policy", "check", str(_policy_without_directory(t))],
        1,
        "policy.yaml:",
        "organisation.directory",
    ),
    "policy test, folder missing": (
        lambda t: ["policy", "test", str(ROOT / "policies" / "default.yaml"), str(t / "mails")],
        1,
        "not a folder",
        "mails",
    ),
    "policy export, config missing": (
        lambda t: ["policy", "export", "--config", str(t / "no.yaml")],
        2,
        "cannot read",
        "no.yaml",
    ),
    "queue, not a store": (
        lambda t: ["queue", "list", "--var", str(t)],
        1,
        "no Sekimori store",
        "sekimori.db",
    ),
    "user sync, not UTF-8": (
        lambda t: ["user", "sync", str(_write(t / "people.csv", b"\xff\xfe\x00")), "--var", str(t / "v")],
        1,
        "people.csv",
        "cannot read",
    ),
    "user, config missing": (
        lambda t: ["user", "list", "--config", str(t / "no.yaml")],
        2,
        "cannot read",
        "no.yaml",
    ),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_is_one_line_not_a_traceback(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEKIMORI_TEST_UNSET", raising=False)
    argv, status, where, what = CASES[case]
    assert main(argv(tmp_path)) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert where in err and what in err, err
    assert all(line.startswith("sekimori") for line in err.splitlines()), err
