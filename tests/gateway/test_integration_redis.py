"""Two gateways on one Redis store, end to end: real SMTP clients send to either instance, both
schedulers race for the held mail, and the upstream sink gets every message exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from gateway.audit import verify_store
from gateway.config import load_config
from gateway.store import State
from tests.gateway.conftest import Sink, make_mail, queue_id, send, start_gateway, write_config
from tests.gateway.redis_server import RedisServer

SENDER = "taro@example.co.jp"


async def test_two_gateways_share_one_queue(tmp_path: Path, sink: Sink, redis_server: RedisServer) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/2"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    configs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        cfg = write_config(folder, upstream_port=sink.port)
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(text.replace("store: {path:", f"store: {{url: '{url}', path:"), encoding="utf-8")
        configs.append(load_config(cfg))
    assert configs[0].store.url == url
    gateways = [await start_gateway(c) for c in configs]
    try:
        sent: dict[str, str] = {}
        for i in range(8):
            to = f"u{i}@hold.test" if i % 2 else f"u{i}@partner.example"
            data = make_mail(to=[to], subject=f"件名 {i}")
            code, reply = await send(gateways[i % 2].port, SENDER, [to], data)
            assert code == 250, reply
            sent[queue_id(reply)] = to
        await sink.wait_for(lambda: all(sink.user_mail(to) for to in sent.values()), within=30)
        # Both schedulers look again, an hour later: nothing is due, nothing is handed to delivery
        # a second time, so nothing can arrive twice.
        later = datetime.now(UTC) + timedelta(hours=1)
        for gw in gateways:
            gw.scheduler.clock = lambda: later
        for _ in range(3):
            for gw in gateways:
                await gw.scheduler.tick()
        assert not any(gw.relay.delivery.busy(msg_id) for gw in gateways for msg_id in sent)
        counts = Counter(to for m in sink.messages for to in m.rcpt_tos if to in sent.values())
        assert counts == Counter({to: 1 for to in sent.values()})
        for msg_id in sent:
            for gw in gateways:
                rec = await gw.store.get(msg_id)
                assert rec is not None
                assert rec.state is State.DELIVERED
        held = [i for i, to in sent.items() if "hold.test" in to]
        for msg_id in held:
            moves = [e.to_state for e in await gateways[1].store.audit_events(msg_id=msg_id)]
            assert moves.count("delivering") == 1
        assert (await verify_store(gateways[1].store)).ok
    finally:
        for gw in gateways:
            await gw.stop()
