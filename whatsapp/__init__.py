"""The WhatsApp Cloud API: a thin httpx client, the template we send, its rate limit shared by
every process, the transport that sends a day's message, and the webhook app."""
