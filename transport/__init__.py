"""Transports hand a composed message to the outside world: the JSONL outbox, later WhatsApp."""

from transport.base import Message, Transport

__all__ = ["Message", "Transport"]
