"""`panchang run --demo`, the README's first command, as a real process tree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from embedded.demo import DEMO_PLACES

pytestmark = pytest.mark.slow

PANCHANG = [sys.executable, "-c", "from cli import main; main()"]


def test_run_demo_delivers_one_message_per_demo_user_and_cleans_up(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_URL", "DATABASE_URL", "PANCHANG_"))
    }
    log = (tmp_path / "run.log").open("wb")
    run = subprocess.Popen(
        [*PANCHANG, "run", "--demo"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    outbox = tmp_path / ".panchang" / "outbox.jsonl"
    url_file = tmp_path / ".panchang" / "redis.url"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.poll() is None:
            # Both the messages and their log lines: `panchang run` echoes what it finds in
            # the outbox by polling it, so the log trails the file by up to half a second.
            logged = (tmp_path / "run.log").read_text(errors="replace").count("\nsent ")
            sent = len(outbox.read_text().splitlines()) if outbox.exists() else 0
            if sent >= len(DEMO_PLACES) and logged >= len(DEMO_PLACES):
                break
            time.sleep(1)
        output = (tmp_path / "run.log").read_text(errors="replace")
        lines = [json.loads(x) for x in outbox.read_text().splitlines()] if outbox.exists() else []
        assert len(lines) == len(DEMO_PLACES), output
        assert sorted(x["to"] for x in lines) == sorted(p[0] for p in DEMO_PLACES)
        assert {x["timezone"] for x in lines} == {p[2] for p in DEMO_PLACES}
        assert output.count("\nsent ") == len(DEMO_PLACES)  # each send is logged
        assert all(x["text"].startswith("Panchangam ") for x in lines)

        # A second terminal: no configuration, same folder, finds the private Redis.
        second = subprocess.run(
            [*PANCHANG, "entries", "--json"], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert len(json.loads(second.stdout)) == len(DEMO_PLACES)
        private_url = url_file.read_text().strip()
    finally:
        run.send_signal(signal.SIGINT)
        code = run.wait(timeout=60)
    assert code == 0
    assert not url_file.exists()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(private_url, socket_connect_timeout=2).ping()

    # The same demo again, the same day: the ledger will not send twice, and it says so
    # rather than leaving a new user waiting for `sent` lines that never come.
    again = subprocess.Popen(
        [*PANCHANG, "run", "--demo"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        assert again.stdout is not None
        for line in again.stdout:
            lines.append(line)
            if line.startswith("sync:"):
                break
    finally:
        again.send_signal(signal.SIGINT)
        rest, _ = again.communicate(timeout=60)
    assert again.returncode == 0, "".join(lines) + rest
    already = [x for x in lines if x.startswith("demo user") and "already had its message" in x]
    assert len(already) == len(DEMO_PLACES), "".join(lines)
    assert "Traceback" not in rest
