"""Transports hand a composed message to the outside world: the JSONL outbox, later WhatsApp."""

from transport.base import Message, Receipt, Transport

__all__ = ["Message", "Receipt", "Transport"]
