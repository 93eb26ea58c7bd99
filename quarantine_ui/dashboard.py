"""Figures for the security dashboard, and the charts drawn as inline SVG on the server.

The SVG is built from numbers and from labels that pass through :func:`html.escape`, carries no
script, style attribute or external reference, and so fits the strict CSP (colours come from
classes in ``style.css``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from html import escape
from typing import Any, Protocol

from gateway.store import AuditEvent, ItemKind, MessageRecord, State


class Readings(Protocol):
    """What the dashboard reads from the store (a :class:`gateway.store.Store` fits)."""

    async def list_messages(self, *, limit: int = 100) -> list[MessageRecord]: ...

    async def audit_events(self, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEvent]: ...


ACTIONS = ("deliver", "tag", "bcc", "link_attachments", "warn", "hold", "approval", "quarantine", "block")
#: Decisions that let an upload (or a sharing change) through; every other one stopped it.
_LET_THROUGH = frozenset({"deliver", "tag", "bcc", "link_attachments"})
SCAN_LIMIT = 5000


@dataclass
class Stats:
    days: list[date]
    #: action -> count of messages per day (same order as ``days``)
    per_day: dict[str, list[int]]
    #: Of messages and uploads together: the rules that matched most, and the senders and
    #: users whose items were flagged most.
    top_rules: list[tuple[str, int]]
    top_senders: list[tuple[str, int]]
    held: int
    cancelled_by_sender: int
    sent_now: int
    totals: dict[str, int] = field(default_factory=dict)
    #: Messages whose external To/Cc were moved to Bcc, whatever action followed.
    bcc_converted: int = 0
    #: rule id -> (Japanese title, English title), from the decisions that named it.
    rule_titles: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: service -> uploads per day (same order as ``days``)
    uploads_per_service: dict[str, list[int]] = field(default_factory=dict)
    #: Sharing changes (an upload item with a sharing scope) the policy stopped, by service and
    #: scope (``"box anyone"``), most first; and their total.
    sharing_stopped: list[tuple[str, int]] = field(default_factory=list)
    sharing_stopped_total: int = 0

    def rule_title(self, rule_id: str, lang: str) -> str:
        ja, en = self.rule_titles.get(rule_id, (rule_id, rule_id))
        return (ja if lang == "ja" else en) or rule_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": [d.isoformat() for d in self.days],
            "per_day": self.per_day,
            "top_rules": [{"rule_id": r, "count": n} for r, n in self.top_rules],
            "top_senders": [{"sender": s, "count": n} for s, n in self.top_senders],
            "held": self.held,
            "cancelled_by_sender": self.cancelled_by_sender,
            "sent_now": self.sent_now,
            "totals": self.totals,
            "bcc_converted": self.bcc_converted,
            "rule_titles": {r: {"ja": ja, "en": en} for r, (ja, en) in self.rule_titles.items()},
            "uploads_per_service": self.uploads_per_service,
            "sharing_stopped": [{"service_scope": k, "count": n} for k, n in self.sharing_stopped],
            "sharing_stopped_total": self.sharing_stopped_total,
        }


async def first_seq_since(store: Readings, since: datetime) -> int:
    """The ``after_seq`` from which the audit chain holds the events at or after ``since``.

    The chain is appended in time order, so the first such event is found by doubling and then
    halving over sequence numbers: some 2·log2(n) reads of one event, where reading the whole
    chain grew with every message ever handled. (An event stamped out of order by a clock step
    near the boundary may be left out of, or added to, the dashboard's window.)
    """

    async def at(seq: int) -> datetime | None:
        found = await store.audit_events(after_seq=seq - 1, limit=1)
        return found[0].at if found else None

    lo, hi = 0, 1  # invariant: event ``lo`` (if any) is before ``since``
    while (stamp := await at(hi)) is not None and stamp < since:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # event ``hi`` is at or after ``since``, or past the end
        mid = (lo + hi) // 2
        stamp = await at(mid)
        if stamp is not None and stamp < since:
            lo = mid
        else:
            hi = mid
    return lo


async def collect(store: Readings, *, now: datetime, days: int = 14, utc_offset_minutes: int = 540) -> Stats:
    tz = timezone(timedelta(minutes=utc_offset_minutes))
    today = now.astimezone(tz).date()
    day_list = [today - timedelta(days=i) for i in range(days - 1, -1, -1)]
    index = {d: i for i, d in enumerate(day_list)}
    per_day = {a: [0] * days for a in ACTIONS}
    rules: Counter[str] = Counter()
    senders: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    held = 0
    titles: dict[str, tuple[str, str]] = {}
    services: dict[str, list[int]] = {}
    sharing: Counter[str] = Counter()
    recs = await store.list_messages(limit=SCAN_LIMIT)
    for rec in recs:
        if rec.meta.get("kind") in ("notification", "dsn"):
            continue
        if not rec.sender and rec.kind is not ItemKind.UPLOAD:  # an upload's user may be unknown
            continue
        action = str(rec.decision.get("action") or "")
        if action not in per_day:
            continue
        day = rec.received_at.astimezone(tz).date()
        if day not in index:
            continue
        for rid in rec.decision.get("rules") or []:
            rules[str(rid)] += 1
        for m in rec.decision.get("matches") or []:
            if isinstance(m, dict) and m.get("rule_id"):
                titles.setdefault(str(m["rule_id"]), (str(m.get("title_ja", "")), str(m.get("title_en", ""))))
        if action != "deliver" and rec.sender:
            senders[rec.sender.lower()] += 1
        facts = rec.upload
        if rec.kind is ItemKind.UPLOAD and facts is not None:
            services.setdefault(facts.service, [0] * days)[index[day]] += 1
            if facts.sharing_scope and action not in _LET_THROUGH:
                sharing[f"{facts.service} {facts.sharing_scope}"] += 1
            continue
        per_day[action][index[day]] += 1
        totals[action] += 1
        if action == "hold":
            held += 1
    cancelled = sent_now = bcc = 0
    since = datetime.combine(day_list[0], time.min, tzinfo=tz)
    after = await first_seq_since(store, since)
    while True:
        events = await store.audit_events(after_seq=after, limit=2000)
        for ev in events:
            if ev.at < since:
                continue
            if ev.action == "replace_raw" and ev.reason.startswith("Bcc conversion"):
                bcc += 1
            if ev.action == "transition" and ev.actor.startswith("sender:") and ev.from_state == State.HELD:
                if ev.to_state == State.CANCELLED:
                    cancelled += 1
                elif ev.to_state == State.DELIVERING:
                    sent_now += 1
        if len(events) < 2000:
            break
        after = events[-1].seq
    return Stats(
        days=day_list,
        per_day=per_day,
        top_rules=rules.most_common(10),
        top_senders=senders.most_common(10),
        held=held,
        cancelled_by_sender=cancelled,
        sent_now=sent_now,
        totals=dict(totals),
        bcc_converted=bcc,
        rule_titles=titles,
        uploads_per_service=dict(sorted(services.items())),
        sharing_stopped=sharing.most_common(10),
        sharing_stopped_total=sum(sharing.values()),
    )


def stacked_bars(
    stats: Stats,
    title: str,
    labels: dict[str, str],
    series: dict[str, list[int]] | None = None,
    css: str = "a-",
) -> str:
    """Counts per day, one stacked column per day: messages per action (the default), or
    ``series`` (uploads per service, coloured ``{css}0``, ``{css}1`` … in order)."""
    data = {a: stats.per_day[a] for a in ACTIONS} if series is None else series
    keys = list(data)
    classes = {k: f"{css}{k}" if series is None else f"{css}{i % 8}" for i, k in enumerate(keys)}
    width, height, left, bottom, top = 640, 240, 36, 28, 12
    n = max(1, len(stats.days))
    totals = [sum(data[a][i] for a in keys) for i in range(len(stats.days))]
    peak = max([*totals, 1])
    slot = (width - left - 8) / n
    bar = max(2.0, slot * 0.7)
    plot_h = height - bottom - top
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 40}" role="img" aria-label="{escape(title)}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}"/>',
        f'<text class="tick" x="{left - 4}" y="{top + 8}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, day in enumerate(stats.days):
        x = left + i * slot + (slot - bar) / 2
        y = float(top + plot_h)
        for action in keys:
            count = data[action][i]
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            label = f"{day.isoformat()} {labels.get(action, action)}: {count}"
            out.append(
                f'<rect class="{classes[action]}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{escape(label)}</title></rect>"
            )
        if n <= 16 or i % 2 == 0:
            out.append(
                f'<text class="tick" x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                f"{day.month}/{day.day}</text>"
            )
    lx = left
    for action in keys:
        out.append(f'<rect class="{classes[action]}" x="{lx}" y="{height + 14}" width="10" height="10"/>')
        name = escape(labels.get(action, action))
        out.append(f'<text class="tick" x="{lx + 14}" y="{height + 23}">{name}</text>')
        lx += 24 + sum(12 if ord(c) > 0x2FF else 7 for c in labels.get(action, action))
    out.append("</svg>")
    return "".join(out)


def horizontal_bars(
    items: list[tuple[str, int]], title: str, css: str = "bar", names: dict[str, str] | None = None
) -> str:
    """A ranked list (top rules, top senders) as horizontal bars with their labels; ``names``
    gives a label to show for an item (a rule's title), the item itself shown on hover."""
    row, width, label_w = 22, 640, 260
    height = max(1, len(items)) * row + 8
    peak = max([n for _, n in items] + [1])
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (key, count) in enumerate(items):
        y = 4 + i * row
        w = (width - label_w - 50) * count / peak
        label = (names or {}).get(key, key)
        limit = 20 if any(ord(c) > 0x2FF for c in label) else 40
        shown = label if len(label) <= limit else label[: limit - 1] + "…"
        out.append(f"<g><title>{escape(key if key != label else label)}</title>")
        out.append(
            f'<text class="tick" x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(shown)}</text>'
        )
        out.append(f'<rect class="{css}" x="{label_w}" y="{y}" width="{w:.1f}" height="{row - 6}"/>')
        out.append(f'<text class="tick" x="{label_w + w + 4:.1f}" y="{y + 14}">{count}</text></g>')
    out.append("</svg>")
    return "".join(out)
