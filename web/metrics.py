"""`/metrics`: the cluster's metrics in Prometheus text format, read from Redis per scrape."""

from __future__ import annotations

import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from core.redis_conn import open_redis
from core.settings import Settings
from ops.metrics_redis import RedisCollector


def routes(settings: Settings, redis_client: redis.Redis | None) -> list[Route]:
    if redis_client is None and settings.redis_url:
        redis_client = open_redis(settings.redis_url, socket_timeout=5)
    # A registry of our own: the default one would add this web process's Python and GC
    # metrics, which say nothing about the cluster and change with whichever process answers.
    registry = CollectorRegistry(auto_describe=False)
    if redis_client is not None:
        registry.register(RedisCollector(redis_client))

    async def metrics(_request: Request) -> Response:
        if redis_client is None:
            return PlainTextResponse("metrics need REDIS_URL\n", status_code=503)
        try:
            body = await run_in_threadpool(generate_latest, registry)
        except redis.RedisError as err:
            # Prometheus marks the target down (`up` 0): better than counters that read zero.
            return PlainTextResponse(f"cannot read metrics from Redis: {err}\n", status_code=503)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
