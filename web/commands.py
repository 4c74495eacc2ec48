"""`panchang web`: serve the WhatsApp webhook."""

from __future__ import annotations

import click

from core.console import AppContext, handle_errors


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.pass_obj
@handle_errors
def web(obj: AppContext, host: str, port: int) -> None:
    """Serve WhatsApp's webhook at /webhooks/whatsapp (needs WHATSAPP_APP_SECRET and
    WHATSAPP_VERIFY_TOKEN)."""
    import uvicorn

    from web.app import create_app

    app = create_app(obj.settings, obj.sessions)  # checks the secrets before listening
    click.echo(f"serving the WhatsApp webhook on http://{host}:{port}/webhooks/whatsapp")
    uvicorn.run(app, host=host, port=port, log_level="info")
