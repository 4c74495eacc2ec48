"""`panchang web`: serve the WhatsApp webhook, probes, metrics and the status page."""

from __future__ import annotations

import click

from core.console import AppContext, handle_errors


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.pass_obj
@handle_errors
def web(obj: AppContext, host: str, port: int) -> None:
    """Serve WhatsApp's webhook at /webhooks/whatsapp (message statuses, subscribers' own
    commands; needs WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN), and for operators
    /healthz, /readyz, /metrics (Prometheus) and the status page /."""
    import uvicorn

    from web.app import create_app

    # The secrets first: without them nothing else matters.
    obj.settings.whatsapp.require("app_secret", "verify_token")
    app = create_app(obj.settings, obj.sessions, obj.redis())
    click.echo(f"serving the WhatsApp webhook on http://{host}:{port}/webhooks/whatsapp")
    click.echo(f"status page http://{host}:{port}/ and metrics http://{host}:{port}/metrics")
    if obj.settings.log_format == "json":
        import logging

        from core.logs import use_json

        logging.basicConfig(level=logging.INFO)
        use_json()
        # uvicorn's own log config would give its loggers text handlers; without it they
        # propagate to the root logger's JSON handler.
        uvicorn.run(app, host=host, port=port, log_config=None)
    else:
        uvicorn.run(app, host=host, port=port, log_level="info")
