"""`panchang run` as a process manager: one run per folder, a killed Beat is restarted and the
next slot still goes out, and SIGTERM stops everything cleanly (exit 0, no traceback)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

pytestmark = pytest.mark.slow

PANCHANG = [sys.executable, "-c", "from cli import main; main()"]


def wait_for(check: Callable[[], object], what: str, log: Path, timeout_s: float) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout_s} s:\n{log.read_text(errors='replace')}")


def test_a_killed_beat_is_restarted_the_next_slot_goes_out_and_sigterm_stops_cleanly(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS_URL", "DATABASE_URL", "PANCHANG_"))}  # fmt: skip
    log_path = tmp_path / "run.log"
    log = log_path.open("wb")
    run = subprocess.Popen(
        [*PANCHANG, "run"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )

    def output() -> str:
        return log_path.read_text(errors="replace")

    try:
        beat = wait_for(lambda: re.search(r"beat started \(pid (\d+)\)", output()),
                        "Beat", log_path, 60)  # fmt: skip
        assert isinstance(beat, re.Match)
        banner = output()
        for line in ("database: sqlite:///", "redis: redis://127.0.0.1:", "transport: outbox",
                     "users: 0 active"):  # fmt: skip
            assert line in banner, banner

        # A second run in the same folder would share and then delete the first one's Redis.
        second = subprocess.run([*PANCHANG, "run"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        assert second.returncode == 2
        assert second.stderr.startswith("Error: another `panchang run` (pid "), second.stderr

        os.kill(int(beat[1]), signal.SIGKILL)
        wait_for(lambda: "beat exited with code -9; restarting in 1 s" in output(),
                 "restart notice", log_path, 30)  # fmt: skip
        pids = re.compile(r"beat started \(pid (\d+)\)")
        restarted = wait_for(lambda: [p for p in pids.findall(output()) if p != beat[1]],
                             "restarted Beat", log_path, 30)  # fmt: skip
        assert restarted

        # A new subscriber due in the next minute in Kolkata is sent to by the restarted Beat.
        due = datetime.now(UTC).astimezone(ZoneInfo("Asia/Kolkata")) + timedelta(seconds=25)
        due = due.replace(second=0, microsecond=0) + timedelta(minutes=1)
        added = subprocess.run(
            [*PANCHANG, "users", "add", "--phone", "+919845012345", "--lat", "12.9716",
             "--lon", "77.5946", "--send-time", due.strftime("%H:%M")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        # Scheduled at once: by the command's own scoped sync ("schedule: created ..."), or by
        # the full sync the restarted Beat asked for, when that ran first (a CI run saw it).
        name = f"panchang:send:Asia/Kolkata@{due:%H:%M}"
        listed = subprocess.run([*PANCHANG, "entries", "--json"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        [entry] = [e for e in json.loads(listed.stdout) if e["name"] == name]
        assert entry["status"] == "ok", entry
        assert added.stderr in ("", f"schedule: created {name}\n"), added.stderr
        wait_for(lambda: "to +919845012345" in output(), "send", log_path, 120)
        sent = output()
        assert f"sent {due.date()} {due:%H:%M} Asia/Kolkata to +919845012345" in sent
    finally:
        run.send_signal(signal.SIGTERM)
        code = run.wait(timeout=60)
        log.close()
    final = output()
    assert code == 0, final
    assert "Traceback" not in final, final
    assert final.rstrip().endswith("stopped")
    assert not (tmp_path / ".panchang" / "redis.url").exists()
