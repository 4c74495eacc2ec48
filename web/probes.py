"""`/healthz` (the process serves) and `/readyz` (Redis and the database answer, the schema is
current): what a load balancer or an orchestrator asks before sending traffic."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from core.settings import Settings


def routes(settings: Settings) -> list[Route]:
    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_request: Request) -> Response:
        from ops.health import Thresholds, evaluate
        from ops.probe import observe

        limits = Thresholds.from_settings(settings.beat_max_interval_s, settings.sync_interval_s)
        # The same checks as `panchang health --role web`, each with its 2 s timeout, off the
        # event loop so a slow database never stalls the webhook.
        result = await run_in_threadpool(lambda: evaluate(observe(settings, role="web"), limits))
        body = {"ok": result.ok, "problems": result.report["problems"]}
        return JSONResponse(body, status_code=200 if result.ok else 503)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
