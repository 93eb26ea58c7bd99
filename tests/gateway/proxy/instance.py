"""A second gateway instance for the multi-instance tests, in its own process (mitmproxy allows
one master per process): the real :class:`ProxyServer` on the given configuration and Redis key
prefix, with the test's host map standing in for DNS. Prints ``ready`` once it listens and
stops when its standard input closes.

    python -m tests.gateway.proxy.instance CONFIG ORIGIN_PORT REDIS_PREFIX
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from gateway.config import load_config
from gateway.pipeline import Inspector
from gateway.proxy.server import ProxyServer
from gateway.store.redis import RedisStore
from policies import PolicyHolder
from tests.gateway.proxy.fakes import MapHosts


async def main(config_path: str, origin_port: int, prefix: str) -> None:
    config = load_config(config_path)
    assert config.store.url is not None
    store = await RedisStore.open(config.store.url, prefix=prefix)
    inspector = Inspector(PolicyHolder(config.policy.path), scan_time=config.scan.time, workers=0)
    proxy = ProxyServer(config, store=store, inspector=inspector, extra_addons=[MapHosts(origin_port)])
    await proxy.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await proxy.stop()
    inspector.close()
    await store.close()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
