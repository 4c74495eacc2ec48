"""The status page `/` of `panchang web`: the per-check lines it lists, its pure rendering, the
page served while Redis or the database is down, and the page as a person sees it in headless
Chromium (Debian's `chromium`, driven by Playwright) over a real database and Redis."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import redbeat_sync
from core import clock
from core.settings import Settings, WhatsAppSettings
from delivery.deliveries import DeliveryView
from delivery.local_day import local_today
from delivery.slot_run import run_slot
from embedded.redis_server import free_port
from models import Delivery, DeliveryStatus, RunOutcome, RunTrigger, SendRun, User
from models.db import make_engine, session_factory
from ops.health import CHECKS, Check, Health, Observed, Thresholds, checks, evaluate
from ops.timeline import occurrences_within
from tests.conftest import service_missing
from tests.helpers import add_users, serve
from transport.outbox import OutboxTransport
from web.app import create_app
from web.status import run_line
from web.status_page import (
    RunLine,
    StatusPage,
    Unavailable,
    format_lag,
    mask_phone,
    render,
)

SECRETS = WhatsAppSettings(app_secret="app-secret-8f2c", verify_token="verify-me-41")
NOW = datetime(2026, 11, 22, 5, 38, 16, tzinfo=UTC)
RED, GREEN = "#c62828", "#2e7d32"


# --- one line per check (ops.health.checks) ---------------------------------------------------


def test_checks_read_pass_and_fail_from_the_problems_only() -> None:
    # Redis answered, no Beat holds the lock, nothing else was looked at (Redis-only role).
    seen = Observed(now=1000.0, host="web-1", role="beat", lock_checked=True)
    health = evaluate(seen, Thresholds())
    lines = {line.name: line for line in checks(health)}
    assert list(lines) == list(CHECKS)
    assert lines["redis"] == Check("redis", True, ("answers",))
    beat = lines["beat"]
    assert beat.ok is False
    assert beat.details[0].startswith("no Beat holds the RedBeat lock (redbeat::lock)")
    assert len(beat.details) == 2  # no lock, and no heartbeat: both shown, without "beat: "
    assert lines["database"].ok is None and lines["workers"].ok is None


def test_a_problem_of_an_unknown_check_still_gets_a_failing_line() -> None:
    health = evaluate(Observed(now=1000.0, host="web-1", role="web"), Thresholds())
    odd = Health(False, ["quota: 93% of the monthly messages used"], health.report)
    assert checks(odd)[-1] == Check("quota", False, ("93% of the monthly messages used",))


def test_a_passing_check_says_what_was_seen() -> None:
    seen = Observed(
        now=1000.0, host="web-1", schema_revision="0009", schema_head="0009", workers=[],
        queue_depth=4, runs_today={"complete": 12, "failed": 1}, dead_letters_today=3,
    )  # fmt: skip
    lines = {line.name: line for line in checks(evaluate(seen, Thresholds()))}
    assert lines["database"].details == ("answers; schema at the newest migration (0009)",)
    assert lines["runs"].details == (
        "runs since 00:00 UTC: complete 12, failed 1; dead letters: 3",
    )
    assert lines["workers"].ok is False  # no fresh heartbeat: failing, whatever the queue


# --- rendering, pure ---------------------------------------------------------------------------


def page(**changes: Any) -> StatusPage:
    base = StatusPage(
        now=NOW,
        day=NOW.date(),
        ok=False,
        problems=1,
        checks=[
            Check("redis", True, ("answers",)),
            Check("beat", False, ("no Beat holds the RedBeat lock (redbeat::lock); start it",)),
            Check("entries", None, ("not checked",)),
        ],
        timeline_svg='<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        'width="100pt" height="50pt"><text>Asia/Kolkata 06:30</text></svg>',
        runs=[],
        dead_letters=[],
    )
    return replace(base, **changes)


def check_row(html: str, name: str) -> str:
    found = re.search(rf'<tr class="check [^"]*" data-check="{name}"[^>]*>.*?</tr>', html, re.S)
    assert found, f"no row for {name}"
    return found.group(0)


def test_a_failing_check_is_marked_and_red_a_passing_one_green() -> None:
    html = render(page())
    beat = check_row(html, "beat")
    assert 'class="check fail"' in beat and f"color: {RED}" in beat and "FAIL" in beat
    assert "no Beat holds the RedBeat lock" in beat
    redis_row = check_row(html, "redis")
    assert 'class="check ok"' in redis_row and f"color: {GREEN}" in redis_row
    assert 'class="check skipped"' in check_row(html, "entries")
    assert "1 problem(s)" in html
    assert '<meta http-equiv="refresh" content="30">' in html


def test_the_picture_is_inline_svg_without_its_xml_prolog() -> None:
    html = render(page())
    assert "<svg" in html and "<?xml" not in html
    assert "<text>Asia/Kolkata 06:30</text>" in html  # zone labels stay text


def test_dead_letters_show_only_the_last_four_digits_of_a_phone() -> None:
    letters = [
        DeliveryView(
            user_id=7, phone="+919845012345", timezone="Asia/Kolkata", send_time="06:30",
            local_date=date(2026, 11, 22), status="failed", message_id=None, error_code=131049,
            error="This message was not delivered to maintain healthy ecosystem engagement.",
            attempts=1, updated_at=NOW,
        ),
        DeliveryView(
            user_id=None, phone=None, timezone="Europe/London", send_time="06:00",
            local_date=date(2026, 11, 22), status="failed", message_id=None, error_code=None,
            error="grace passed", attempts=0, updated_at=NOW - timedelta(hours=1),
        ),
    ]  # fmt: skip
    html = render(page(dead_letters=letters, dead_letters_total=2))
    assert "9845012345" not in html and "98450" not in html
    assert "+" + "•" * 8 + "2345" in html  # 12 digits, the last 4 shown
    assert "(erased)" in html and "131049" in html and "healthy ecosystem engagement" in html
    assert mask_phone("+1 (202) 555-0143") == "+• (•••) •••-0143"


def test_runs_show_their_counts_lag_and_outcome() -> None:
    started = datetime(2026, 11, 22, 1, 0, 42, tzinfo=UTC)
    done = RunLine(
        id=41, zone="Asia/Kolkata", send_time="06:30", local_date=date(2026, 11, 22),
        trigger="beat", started_at=started, finished_at=started + timedelta(seconds=95),
        outcome="complete", sent=1234, skipped=5, failed=2, held=1, unreachable=1, deferred=0,
        error=None, lag_s=42.0,
    )  # fmt: skip
    running = replace(done, id=42, outcome=None, finished_at=None, lag_s=3 * 3600 + 7 * 60)
    html = render(page(runs=[running, done]))
    row = re.search(r'<tr class="run" data-run="41">.*?</tr>', html, re.S)
    assert row
    cells = re.findall(r"<td[^>]*>\s*(.*?)\s*</td>", row.group(0), re.S)
    assert cells[:8] == [
        "41", "Asia/Kolkata 06:30", "2026-11-22", "beat", "01:00:42", "+42 s", "01:02:17",
        "complete",
    ]  # fmt: skip
    assert cells[8:14] == ["1234", "5", "2", "1", "1", "0"]
    assert ">running<" in html and "+3 h 07 min" in html
    assert [format_lag(x) for x in (-2.4, 185, None)] == ["-2 s", "+3 min 05 s", "?"]


def test_lag_is_measured_from_the_send_time_on_the_runs_local_date() -> None:
    # New York's 07:00 is 12:00 UTC in November (EST) and 11:00 UTC in June (EDT).
    for local_date, scheduled in [
        (date(2026, 11, 20), datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),
        (date(2026, 6, 19), datetime(2026, 6, 19, 11, 0, tzinfo=UTC)),
    ]:
        run = SendRun(
            id=1, timezone="America/New_York", send_time="07:00", local_date=local_date,
            trigger="beat", started_at=scheduled + timedelta(seconds=75), sent=0, skipped=0,
            failed=0, held=0, unreachable=0, deferred=0,
        )  # fmt: skip
        assert run_line(run).lag_s == 75.0
    run.timezone = "Mars/Olympus_Mons"  # a row written by hand: no lag, and no crash
    assert run_line(run).lag_s is None


def test_odd_values_are_escaped() -> None:
    evil = "<script>alert('x')</script>"
    run = RunLine(
        id=1, zone="Asia/Kolkata", send_time="06:30", local_date=date(2026, 11, 22),
        trigger="manual", started_at=NOW, finished_at=None, outcome="failed", sent=0,
        skipped=0, failed=0, held=0, unreachable=0, deferred=0, error=f"boom {evil} & co",
        lag_s=0.0,
    )  # fmt: skip
    html = render(
        page(
            checks=[Check("database", False, (f"cannot query {evil}",))],
            runs=[run],
            dead_letters=Unavailable(f"database said {evil}"),
        )
    )
    assert "<script>" not in html
    assert html.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") == 3
    assert "boom &lt;script&gt;" in html and "&amp; co" in html
    assert "unavailable: database said &lt;script&gt;" in html


# --- served, with Redis or the database down ---------------------------------------------------


def closed_port() -> int:
    return free_port()  # nothing listens on a port that was just free


@pytest.mark.parametrize("down", ["redis", "database", "both"])
def test_the_page_renders_with_failing_lines_when_a_service_is_down(
    down: str, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    dead_db = f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port()}/panchang"
    dead_redis = f"redis://127.0.0.1:{closed_port()}/0"
    database_url = dead_db if down in ("database", "both") else postgres_url
    settings = Settings(
        database_url=database_url,
        redis_url=dead_redis if down in ("redis", "both") else redis_url,
        outbox_path=tmp_path / "outbox.jsonl",
        whatsapp=SECRETS,
    )
    engine = make_engine(database_url)
    try:
        for url in serve(create_app(settings, session_factory(engine))):
            response = httpx.get(f"{url}/", timeout=20)
    finally:
        engine.dispose()
    assert response.status_code == 200
    html = response.text
    failing = set(re.findall(r'<tr class="check fail" data-check="(\w+)"', html))
    if down in ("redis", "both"):
        assert {"redis"} <= failing
        assert "cannot reach Redis" in check_row(html, "redis")
    else:
        assert 'class="check ok"' in check_row(html, "redis")
    if down in ("database", "both"):
        assert "database" in failing
        assert "cannot query the database" in check_row(html, "database")
        # Each database section says why it is empty, rather than the page failing.
        assert html.count("unavailable: cannot query the database") == 3
    else:
        assert 'class="check ok"' in check_row(html, "database")
        assert "unavailable:" not in html


# --- in a browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium: Debian's `chromium` (CI installs it), driven by Playwright."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        service_missing("playwright (the Python package)")
    if chromium is None:
        service_missing("chromium (the Debian package; `apt-get install chromium`)")
    with sync_playwright() as p:
        try:
            launched = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        except Error as err:
            service_missing(f"a working chromium at {chromium} ({str(err).splitlines()[0]})")
        yield launched
        launched.close()


ZONES = {
    # zone: (send time, users, lat, lon)
    "Asia/Kolkata": ("06:30", 3, 12.97, 77.59),
    "America/New_York": ("07:00", 2, 40.71, -74.01),
    "Europe/London": ("06:00", 1, 51.51, -0.13),
}


def rgb(css: str) -> tuple[int, int, int]:
    found = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, [\d.]+)?\)", css)
    assert found, css
    r, g, b = (int(v) for v in found.groups())
    return r, g, b


def is_red(colour: tuple[int, int, int]) -> bool:
    r, g, b = colour
    return r >= 150 and r - g >= 80 and r - b >= 80


def test_a_person_sees_the_picture_the_zones_and_a_failing_check_in_red(
    browser: Any,
    settings: Settings,
    sessions: sessionmaker[Session],
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    live = replace(settings.with_redis(redis_url), whatsapp=SECRETS)
    ids = {
        zone: add_users(sessions, zone, send_time, n, lat=lat, lon=lon)
        for zone, (send_time, n, lat, lon) in ZONES.items()
    }
    # Entries and a fresh sync record, as a running system has; but no Beat and no worker.
    redbeat_sync.sync(sessions, redis_client, live)

    # Kolkata's 06:30 run of today, as Beat fires it, 42 s late, into the outbox.
    today = clock.now().date()
    [(kolkata_date, fire)] = occurrences_within("Asia/Kolkata", "06:30", today)
    started = fire + timedelta(seconds=42)
    with clock.frozen(started):
        summary = run_slot(
            sessions, OutboxTransport(live.outbox_path), live, "Asia/Kolkata", "06:30", started,
            local_date=kolkata_date, trigger=RunTrigger.BEAT,
        )  # fmt: skip
    assert (summary.outcome, summary.sent) == (RunOutcome.COMPLETE, 3)

    # A dead letter today: WhatsApp refused one New York subscriber's message for good.
    now = clock.now()
    with sessions.begin() as session:
        user = session.get_one(User, ids["America/New_York"][0])
        phone = user.phone
        session.add(
            Delivery(
                user_id=user.id, local_date=local_today("America/New_York", now),
                timezone="America/New_York", send_time="07:00",
                status=DeliveryStatus.FAILED.value, attempts=1, error_code=131049,
                error="This message was not delivered to maintain healthy ecosystem "
                "engagement.", created_at=now, updated_at=now,
            )
        )  # fmt: skip
    with sessions() as session:
        assert session.scalar(select(SendRun.id).where(SendRun.outcome == "complete"))

    for url in serve(create_app(live, sessions)):
        view = browser.new_page(viewport={"width": 1600, "height": 1000})
        try:
            response = view.goto(f"{url}/", wait_until="load")
            assert response is not None and response.status == 200
            view.screenshot(path=str(tmp_path / "status.png"), full_page=True)
            seen = what_a_person_sees(view)
        finally:
            view.close()

    assert (tmp_path / "status.png").stat().st_size > 20_000

    # The picture: drawn, of a real size, with today's three slots labelled by zone.
    width, height = seen["picture_size"]
    assert width >= 600 and height >= 300, seen["picture_size"]
    assert f"Slots firing on {today.isoformat()} (UTC): 3 occurrences, 6 users" in seen["title"]
    for zone, (send_time, *_) in ZONES.items():
        assert seen["labels"].get(f"{zone} {send_time}"), (zone, seen["labels"])

    # The checks: Beat and the workers fail (none runs here), in red; the rest pass, not red.
    assert seen["failing"] == ["beat", "workers"]
    beat = seen["checks"]["beat"]
    assert "FAIL" in beat["text"] and "no Beat holds the RedBeat lock" in beat["text"]
    assert is_red(rgb(beat["colour"])), beat
    for name in ("redis", "database", "sync", "entries", "runs"):
        line = seen["checks"][name]
        assert "OK" in line["text"] and not is_red(rgb(line["colour"])), (name, line)
    # As `panchang health` counts them: Beat's two (no lock, no tick) and the workers'.
    assert "3 problem(s)" in seen["overall"]

    # The run, with its counts and lag; the dead letter, with its phone masked.
    assert seen["run"] == {"slot": "Asia/Kolkata 06:30", "lag": "+42 s", "sent": "3",
                           "outcome": "complete"}  # fmt: skip
    assert seen["refresh"] == "30"
    assert phone not in seen["html"] and phone[-4:] in seen["dead_letter"]
    assert "•" in seen["dead_letter"] and "131049" in seen["dead_letter"]


def what_a_person_sees(view: Any) -> dict[str, Any]:
    """What is rendered on the page, read through the browser (computed styles, layout)."""
    svg = view.locator("#timeline svg")
    box = svg.bounding_box()
    labels = {}
    for text in svg.locator("text").all():
        content = (text.text_content() or "").strip()
        if re.fullmatch(r"[A-Za-z_]+/[A-Za-z_/]+ \d\d:\d\d", content):
            labels[content] = text.is_visible()
    checks = {}
    for row in view.locator("tr.check").all():
        name = row.get_attribute("data-check")
        checks[name] = {
            "text": row.inner_text(),
            "colour": row.evaluate("el => getComputedStyle(el).color"),
            "visible": row.is_visible(),
        }
    run = view.locator("tr.run").first
    return {
        "picture_size": (box["width"], box["height"]) if box else (0, 0),
        "title": " ".join(t.strip() for t in svg.locator("text").all_text_contents()),
        "labels": labels,
        "checks": checks,
        "failing": [row.get_attribute("data-check") for row in view.locator("tr.fail").all()],
        "overall": view.locator(".overall").inner_text(),
        "run": {
            "slot": run.locator("td").nth(1).inner_text(),
            "lag": run.locator("td.lag").inner_text(),
            "sent": run.locator("td.sent").inner_text(),
            "outcome": run.locator("td.outcome").inner_text(),
        },
        "dead_letter": view.locator("tr.dead-letter").first.inner_text(),
        "refresh": view.locator('meta[http-equiv="refresh"]').get_attribute("content"),
        "html": view.content(),
    }
