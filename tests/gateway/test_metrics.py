"""``/metrics`` over a real socket after mail of every verdict went through the real relay: the
counters moved, the store gauges read the queue, and no label carries data."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway import metrics
from gateway.health import for_config, serve
from gateway.store import State
from tests.gateway.conftest import Gateway, Sink, eventually, free_port, make_mail, send

SENDER = "taro@example.co.jp"
#: One message per verdict of the test policy (tests/gateway/conftest.py).
BY_VERDICT = {
    "deliver": ["hanako@example.co.jp"],
    "tag": ["x@tag.test"],
    "bcc": ["a@one.test", "b@two.test", "c@three.test"],
    "hold": ["x@hold.test"],
    "approval": ["x@approval.test"],
    "quarantine": ["x@quarantine.test"],
    "block": ["x@block.test"],
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


async def test_metrics_move_with_mail_of_every_verdict(gateway: Gateway, sink: Sink) -> None:
    health = for_config(gateway.config, store=gateway.store, policy=gateway.inspector.policies, delivers=True)
    stop = asyncio.Event()
    port = free_port()
    task = asyncio.create_task(serve(health, "127.0.0.1", port, stop))
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        try:
            await scrape(url)
            return True
        except httpx.TransportError:
            return False

    await eventually(up)
    before = await scrape(url)
    for verdict, rcpts in BY_VERDICT.items():
        code, _ = await send(gateway.port, SENDER, rcpts, make_mail(to=rcpts, subject=verdict))
        assert code == (550 if verdict == "block" else 250), verdict
    metrics.record_upload("box", "block")
    metrics.record_upload("evil@example.com", "block")  # never a label with data in it

    async def delivered() -> bool:
        recs = await gateway.store.list_messages(states=[State.DELIVERED])
        return len([r for r in recs if r.sender == SENDER]) >= 3

    await eventually(delivered)
    after = await scrape(url)
    stop.set()
    await task

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    for verdict in BY_VERDICT:
        assert moved("sekimori_messages_total", verdict=verdict) == 1, verdict
    assert moved("sekimori_rule_matches_total", rule="t-hold") == 1
    assert moved("sekimori_rule_matches_total", rule="t-block-domain") == 1
    assert moved("sekimori_uploads_total", service="box", verdict="block") == 1
    assert moved("sekimori_uploads_total", service="other", verdict="block") == 1
    assert moved("sekimori_delivery_attempts_total") >= 3
    assert moved("sekimori_scan_seconds_count") >= len(BY_VERDICT)
    assert moved("sekimori_store_seconds_count", op="accept") >= len(BY_VERDICT)
    assert after[("sekimori_queue_depth", (("state", "held"),))] >= 1
    assert after[("sekimori_queue_depth", (("state", "quarantined"),))] >= 1
    assert after[("sekimori_queue_depth", (("state", "pending_approval"),))] >= 1
    assert after[("sekimori_held_due_next_hour", ())] >= 1  # the test policy holds for 2 s
    chain = after[("sekimori_audit_chain_length", ())]
    assert 0 < chain <= len(await gateway.store.audit_events(limit=100_000))
    for name, labels in after:
        assert name.startswith(("sekimori_", "python_", "process_")) or name.startswith("sekimori"), name
        assert all("@" not in v and len(v) <= 64 for _, v in labels), (name, labels)


def test_the_grafana_dashboard_graphs_every_metric() -> None:
    import json
    from pathlib import Path

    dashboard = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "sekimori-dashboard.json"
    doc = json.loads(dashboard.read_text(encoding="utf-8"))
    exprs = " ".join(t["expr"] for p in doc["panels"] for t in p["targets"])
    names = {m.name for m in metrics.REGISTRY.collect()}
    assert names and all(name in exprs for name in names), names - {n for n in names if n in exprs}
