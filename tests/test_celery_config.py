"""Celery hardening: time limits sized from the batch and the rate, recycled children, events."""

from __future__ import annotations

from dataclasses import replace

from core.settings import Settings, WhatsAppSettings
from tasks.app import VISIBILITY_TIMEOUT_S, create_app, time_limits


def whatsapp(rate: float, batch: int) -> Settings:
    base = Settings(database_url="sqlite://", redis_url="redis://127.0.0.1:6379/0")
    account = WhatsAppSettings(token="t", phone_number_id="1", rate_per_s=rate)
    return replace(base, transport="whatsapp", send_batch_size=batch, whatsapp=account)


def test_time_limits_grow_with_the_time_a_batch_needs_at_the_numbers_rate() -> None:
    assert time_limits(whatsapp(80, 500)) == (300, 330)  # 6 s of sending: the floor
    assert time_limits(whatsapp(10, 2500)) == (1120, 1150)  # 250 s of sending, four times over
    soft, hard = time_limits(whatsapp(1, 100_000))
    # However slow, a running task is killed well before Redis would hand it to another worker.
    assert hard <= VISIBILITY_TIMEOUT_S // 2
    assert soft < hard


def test_the_app_recycles_children_sends_events_and_applies_the_limits() -> None:
    app = create_app(whatsapp(10, 2500))
    conf = app.conf
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (1120, 1150)
    assert conf.worker_max_tasks_per_child == 1000
    assert conf.worker_send_task_events and conf.task_send_sent_event
    assert conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT_S
