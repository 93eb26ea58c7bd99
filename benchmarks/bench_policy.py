"""Cost of evaluating the default policy, as a fraction of scanning the same message.

Each message is scanned and evaluated in the same run, interleaved; the figure is the sum of the
best-of-7 evaluation times over the sum of the best-of-7 scan times. Target: under 2%.

Two mixes: five hand-made messages (three of them one-line mails, the worst case for the ratio:
a few hundred microseconds of scanning against a fixed cost per rule), and the 150-message
Japanese business mail mix of ``bench_scan.py`` (signatures, PII lines, HTML alternatives).

    python benchmarks/bench_policy.py
"""

from __future__ import annotations

import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifiers import scan_message
from gateway.commands.policy import envelope_from_message
from policies import default_policy_path, evaluate, load_policy

TARGET = 0.02
REPEAT = 7
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class History:
    domains: frozenset[str]

    def has_written_to(self, sender: str, domain: str) -> bool:
        return domain in self.domains


def _mail(to: str, subject: str, body: str, cc: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "山田 太郎 <taro.yamada@example.co.jp>"
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg.set_content(body)
    return msg.as_bytes()


def messages() -> list[tuple[str, bytes]]:
    roster = "\n".join(f"{i:03d} 社員{i} 個人番号 1234 5678 9018 TEL 03-1234-{i:04d}" for i in range(60))
    prose = "いつもお世話になっております。来週のお打ち合わせの件でご連絡いたしました。" * 40
    return [
        (
            "short ja, external",
            _mail(
                "佐藤 <sato@partner.example.com>", "お打ち合わせ", "佐藤様\n\n火曜 14 時はいかがでしょうか。"
            ),
        ),
        (
            "short en, internal",
            _mail("hanako.sato@example.co.jp", "Weekly report", "Hi,\n\nAll good this week.\n"),
        ),
        (
            "my number, external",
            _mail("office@example.com", "源泉徴収票", "個人番号 1234 5678 9018 をお送りします。"),
        ),
        (
            "announcement, 12 external",
            _mail(", ".join(f"c{i}@example{i % 4}.com" for i in range(12)), "セミナーのご案内", prose),
        ),
        ("roster of 60, external", _mail("agency@example.com", "名簿", roster)),
    ]


def best_pair(
    scan: Callable[[], object], decide: Callable[[], object], repeat: int = REPEAT
) -> tuple[float, float]:
    """Best-of-N per-call times of both, measured interleaved so machine load hits both alike."""
    # CPU time of this process: other jobs on a shared machine slow both alike, not the figure.
    t_scan = timeit.Timer(scan, timer=time.process_time)
    t_eval = timeit.Timer(decide, timer=time.process_time)
    n_scan = max(1, t_scan.autorange()[0] // 4)
    n_eval = max(1, t_eval.autorange()[0] // 4)
    best_scan = best_eval = float("inf")
    for _ in range(repeat):
        best_scan = min(best_scan, t_scan.timeit(n_scan) / n_scan)
        best_eval = min(best_eval, t_eval.timeit(n_eval) / n_eval)
    return best_scan, best_eval


def main() -> int:
    policy = load_policy(default_policy_path())
    history = History(frozenset({"partner.example.com"}))
    scan_total = eval_total = 0.0
    for name, raw in messages():
        envelope = envelope_from_message(raw)
        result = scan_message(raw)
        t_scan, t_eval = best_pair(
            partial(scan_message, raw),
            partial(evaluate, policy, envelope, result, now=NOW, history=history),
        )
        scan_total += t_scan
        eval_total += t_eval
        print(
            f"  {name:<28} scan {t_scan * 1e6:9.1f} µs  evaluate {t_eval * 1e6:7.1f} µs  ({t_eval / t_scan:.1%})"
        )
    ratio = eval_total / scan_total
    print(
        f"policy evaluate / scan = {ratio:.1%} (target < {TARGET:.0%}: {'met' if ratio < TARGET else 'missed'})"
    )

    from benchmarks.bench_scan import mail_mix

    raws, _ = mail_mix()
    mix_scan = mix_eval = 0.0
    for raw in raws:
        envelope = envelope_from_message(raw)
        result = scan_message(raw)
        t_scan, t_eval = best_pair(
            partial(scan_message, raw),
            partial(evaluate, policy, envelope, result, now=NOW, history=history),
            repeat=3,
        )
        mix_scan += t_scan
        mix_eval += t_eval
    mix = mix_eval / mix_scan
    print(
        f"policy evaluate / scan over bench_scan's mail mix ({len(raws)} messages) = {mix:.1%}"
        f" (target < {TARGET:.0%}: {'met' if mix < TARGET else 'missed'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
