"""`panchang web`: the HTTP process (Starlette under uvicorn) that receives WhatsApp's
webhooks."""
