"""``sekimori scan``: the command-line classifier over files, folders and .eml messages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from tests.classifiers import corpus

#: A My Number with a valid check digit, written the way people type it.
MY_NUMBER = "5718-4062-399" + corpus.my_number_check("57184062399")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    g = corpus.Gen(5)
    body = f"人事部です。\n個人番号（マイナンバー）: {MY_NUMBER}\n提出をお願いします。\n"
    message = corpus.mail(
        g, "マイナンバー提出", corpus.text_part(body, "iso-2022-jp", "7bit"), subject_charset="iso-2022-jp"
    )
    paths = {
        "mail": tmp_path / "notice.eml",
        "text": tmp_path / "folder" / "memo.txt",
        "clean": tmp_path / "folder" / "nested" / "clean.txt",
        "missing": tmp_path / "does-not-exist.xlsx",
    }
    paths["mail"].write_bytes(message)
    paths["text"].parent.mkdir()
    paths["text"].write_text(f"マイナンバー {MY_NUMBER}\n", encoding="utf-8")
    paths["clean"].parent.mkdir()
    paths["clean"].write_text("本日の会議は15時からです。\n", encoding="utf-8")
    return paths


def _jsonl(out: str) -> dict[str, dict[str, object]]:
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {str(line["path"]): line for line in lines}


def test_jsonl_reports_findings_per_file_and_walks_folders(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["scan", "--format", "jsonl", str(files["mail"]), str(files["text"].parent)])
    assert rc == 0
    by_path = _jsonl(capsys.readouterr().out)
    assert set(by_path) == {str(files["mail"]), str(files["text"]), str(files["clean"])}
    mail = by_path[str(files["mail"])]
    findings = mail["findings"]
    assert isinstance(findings, list)
    numbers = [f for f in findings if f["type"] == "my_number"]
    assert [f["value"] for f in numbers] == [MY_NUMBER]
    assert numbers[0]["location"] == "body"
    assert 0 < numbers[0]["score"] <= 1
    records = mail["records"]
    assert isinstance(records, int) and records >= 1
    assert mail["truncated"] == [] and mail["encrypted"] == []
    assert by_path[str(files["clean"])]["findings"] == []


def test_table_names_types_and_redacts_values(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["scan", "--format", "table", str(files["mail"]), str(files["clean"])])
    assert rc == 0
    out = capsys.readouterr().out
    mail_block, clean_block = out.split(str(files["clean"]))
    assert mail_block.startswith(str(files["mail"]))
    assert "my_number" in mail_block and "****-****-" + MY_NUMBER[-4:] in mail_block
    assert MY_NUMBER not in out
    assert re.search(r"\n  records: [1-9]\d*\n", mail_block)
    assert "(nothing found)" in clean_block and "records: 0" in clean_block


@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_unreadable_path_is_reported_and_the_others_still_scanned(
    files: dict[str, Path], fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["scan", "--format", fmt, str(files["missing"]), str(files["mail"])])
    assert rc == 0
    captured = capsys.readouterr()
    assert str(files["missing"]) in captured.err
    if fmt == "jsonl":
        by_path = _jsonl(captured.out)
        assert "error" in by_path[str(files["missing"])]
        assert any(f["type"] == "my_number" for f in by_path[str(files["mail"])]["findings"])  # type: ignore[attr-defined]
    else:
        assert f"{files['missing']}\n  cannot read:" in captured.out
        assert "my_number" in captured.out.split(str(files["mail"]), 1)[1]


def test_command_runs_as_a_process_and_exits_zero(files: dict[str, Path], tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "scan",
            "--format",
            "jsonl",
            str(files["missing"]),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    by_path = _jsonl(proc.stdout)
    assert "error" in by_path[str(files["missing"])]
    assert {str(files["mail"]), str(files["text"]), str(files["clean"])} <= set(by_path)
    assert any(f["type"] == "my_number" for f in by_path[str(files["text"])]["findings"])  # type: ignore[attr-defined]


class _Terminal:
    """Standard error as a person's terminal (tqdm only draws a bar there)."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, data: str) -> int:
        self.text += data
        return len(data)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize(("count", "shown"), [(25, True), (5, False)])
def test_table_shows_a_progress_bar_on_long_runs_at_a_terminal(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    count: int,
    shown: bool,
) -> None:
    for i in range(count):
        (tmp_path / f"memo{i:02}.txt").write_text("本日の会議は15時からです。\n", encoding="utf-8")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["scan", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("(nothing found)") == count
    assert (f"{count}/{count}" in terminal.text) is shown
