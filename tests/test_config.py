"""Configuration is checked before anything is written, and every database or Redis problem
ends in one line that names the setting and a hint that can work."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import cli
from core.errors import ConfigError
from core.settings import MAX_LATE_GRACE_S, RUNTIME_REDIS_FILE, Settings
from embedded.redis_server import free_port
from tasks.app import create_app
from tests.conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parent.parent
ADD = ["users", "add", "--phone", "+919876543210", "--tz", "Asia/Kolkata", "--lat", "12.97",
       "--lon", "77.59"]  # fmt: skip


@pytest.fixture(autouse=True)
def in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test in its own folder (no `.panchang/redis.url` but its own) and no REDIS_URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli.main, list(args), env=env)


def one_line(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# --- the grace period --------------------------------------------------------------------


def test_a_grace_under_eleven_hours_is_accepted() -> None:
    env = {"PANCHANG_LATE_GRACE_S": str(MAX_LATE_GRACE_S - 1)}
    assert Settings.from_env(env).late_grace_s == 39599


@pytest.mark.parametrize("grace", [MAX_LATE_GRACE_S, 12 * 3600, 86400])
def test_a_grace_that_could_pick_the_wrong_day_is_refused_at_start_up(grace: int) -> None:
    with pytest.raises(ConfigError, match=f"invalid PANCHANG_LATE_GRACE_S {grace}: must be under"):
        Settings.from_env({"PANCHANG_LATE_GRACE_S": str(grace)})
    result = invoke("users", "list", env={"PANCHANG_LATE_GRACE_S": str(grace)})
    assert one_line(result, 2).startswith("Error: invalid PANCHANG_LATE_GRACE_S")


# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://app:s3cret@db.internal:5432/panchang",
         "postgresql+psycopg2://app:s3cret@db.internal:5432/panchang"),
        ("postgresql://app@db:5432/panchang", "postgresql+psycopg2://app@db:5432/panchang"),
        ("postgresql+psycopg2://app@db/panchang", "postgresql+psycopg2://app@db/panchang"),
        ("sqlite:///data/panchang.db", "sqlite:///data/panchang.db"),
    ],
)  # fmt: skip
def test_postgres_urls_map_to_the_installed_driver(given: str, used: str) -> None:
    assert Settings.from_env({"DATABASE_URL": given}).database_url == used


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("mysql://app:s3cret@db/panchang", "keeps its data in PostgreSQL or SQLite"),
        ("postgresql+asyncpg://app:s3cret@db/panchang", "driver 'asyncpg' is not installed"),
        ("db.internal:5432", "not a database URL"),
    ],
)
def test_an_unusable_database_url_names_the_setting_and_hides_the_password(
    given: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DATABASE_URL": given})
    assert str(caught.value).startswith("invalid DATABASE_URL")
    assert reason in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "good", ["redis://127.0.0.1:6379/0", "rediss://:pw@cache.example:6380/1", "unix:///run/r.sock"]
)
def test_redis_urls_of_every_kind_redis_py_takes_are_accepted(good: str) -> None:
    assert Settings.from_env({"REDIS_URL": good}).redis_url == good


@pytest.mark.parametrize("bad", ["localhost:6379", "127.0.0.1", "redis://", "redis://h:port/0"])
def test_a_malformed_redis_url_is_refused_before_anything_is_written(
    bad: str, database_url: str
) -> None:
    result = invoke("--database-url", database_url, *ADD, env={"REDIS_URL": bad})
    line = one_line(result, 2)
    assert line.startswith(f"Error: invalid REDIS_URL {bad!r}: not a Redis URL")
    assert "redis://host:6379/0" in line
    listed = invoke("--database-url", database_url, "users", "list", "--json")
    assert listed.exit_code == 0 and listed.stdout.strip() == "[]"  # nothing was saved


def test_a_postgres_scheme_url_works_end_to_end(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql+psycopg2://", "postgres://")
    result = invoke("--database-url", url, "users", "list", "--json")
    assert result.exit_code == 0, result.output


# --- databases that are not there ----------------------------------------------------------


@pytest.mark.parametrize("command", [["users", "list"], ["resync"], ["entries"], ["runs"]])
def test_a_postgres_database_that_does_not_exist_is_one_line_with_a_working_hint(
    command: list[str], postgres_url: str, redis_url: str
) -> None:
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/panchang_no_such_db"
    result = invoke("--database-url", url, "--redis-url", redis_url, *command)
    line = one_line(result, 3)
    assert f"DATABASE_URL={url}" in line
    assert 'database "panchang_no_such_db" does not exist' in line
    assert "createdb -h 127.0.0.1 -p 5432 -U postgres panchang_no_such_db" in line


@pytest.mark.parametrize("command", [["users", "list"], ["resync"], ["entries"], ["runs"]])
def test_a_database_without_tables_points_at_db_upgrade_from_every_command(
    command: list[str], tmp_path: Path, redis_url: str
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = invoke("--database-url", url, "--redis-url", redis_url, *command)
    assert one_line(result, 3).endswith("run `panchang db upgrade`")


def test_a_database_a_migration_behind_points_at_db_upgrade(tmp_path: Path) -> None:
    from models.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(make_engine(url), "0001")
    result = invoke("--database-url", url, "runs")
    assert one_line(result, 3).endswith("run `panchang db upgrade`")
    upgraded = invoke("--database-url", url, "db", "upgrade")
    assert upgraded.exit_code == 0
    assert upgraded.stdout.startswith("database upgraded from revision 0001 to ")
    again = invoke("--database-url", url, "db", "upgrade")
    assert again.stdout.startswith("database already at revision ")
    assert again.stdout.rstrip().endswith("; nothing to apply")
    assert invoke("--database-url", url, "runs").exit_code == 0


def test_postgres_that_does_not_answer_is_one_line() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/panchang"
    result = invoke("--database-url", url, "users", "list")
    line = one_line(result, 3)
    assert "cannot connect to the database at DATABASE_URL=postgresql+psycopg2://" in line
    assert "is the server running at that address?" in line


# --- a runtime redis.url left behind -------------------------------------------------------


def stale_runtime_file() -> str:
    url = f"redis://127.0.0.1:{free_port()}/0"
    RUNTIME_REDIS_FILE.parent.mkdir(exist_ok=True)
    RUNTIME_REDIS_FILE.write_text(url + "\n")
    return url


def test_a_stale_runtime_redis_file_is_not_used(redis_url: str) -> None:
    dead = stale_runtime_file()
    settings = Settings.from_env({})
    assert settings.redis_url is None
    with pytest.raises(ConfigError, match=re.escape(f"names {dead}, which does not answer")):
        settings.require_redis_url()
    hint = re.escape("delete ./.panchang/redis.url, or set REDIS_URL")
    with pytest.raises(ConfigError, match=hint):
        create_app(settings)
    # A live one is used, and messages say where the URL came from.
    RUNTIME_REDIS_FILE.write_text(redis_url)
    live = Settings.from_env({})
    assert (live.redis_url, live.redis_source) == (redis_url, "./.panchang/redis.url")


def test_resync_with_a_stale_runtime_redis_file_says_so_in_one_line(database_url: str) -> None:
    stale_runtime_file()
    line = one_line(invoke("--database-url", database_url, "resync"), 2)
    assert "does not answer (left by a `panchang run` that was killed?)" in line


def test_celery_with_a_stale_runtime_redis_file_stops_with_one_line(tmp_path: Path) -> None:
    dead = stale_runtime_file()
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "inspect", "ping"],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"Error: REDIS_URL is not set and ./.panchang/redis.url names {dead}, which does not "
        "answer (left by a `panchang run` that was killed?); start `panchang run` again, delete "
        "./.panchang/redis.url, or set REDIS_URL"
    ]


def test_help_works_whatever_the_environment_says() -> None:
    result = invoke("users", "--help", env={"DATABASE_URL": "nonsense", "REDIS_URL": "nonsense"})
    assert result.exit_code == 0
    assert "Subscribers" in result.output


def test_a_sqlite_file_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    engine_url = f"sqlite:///{blocker}/sub/panchang.db"
    line = one_line(invoke("--database-url", engine_url, "users", "list"), 3)
    assert f"cannot create the folder {blocker}/sub for DATABASE_URL=" in line


def test_redbeat_sync_script_help_explains_and_runs_nothing(tmp_path: Path) -> None:
    # No REDIS_URL and no database here: a sync would fail; --help must not try one.
    result = subprocess.run(
        [sys.executable, str(ROOT / "redbeat_sync.py"), "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: redbeat_sync.py [-h] [--dry-run]")
    assert "Reconcile the RedBeat entries" in result.stdout
    assert not (tmp_path / ".panchang").exists()


def test_redbeat_sync_script_ends_in_one_line_on_a_bad_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "redbeat_sync.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "REDIS_URL": "localhost:6379",
             "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: invalid REDIS_URL 'localhost:6379': not a Redis URL; write it as "
        "redis://host:6379/0 (rediss:// for TLS)"
    ]


def test_version_and_help_answer_without_importing_the_heavy_parts() -> None:
    # `--help` lists every command from the registry; importing them all (SQLAlchemy, numpy,
    # Celery, the web stack) is what made it slow.
    code = (
        "import sys; from click.testing import CliRunner; import cli; "
        "r = CliRunner().invoke(cli.main, ['--help']); "
        "assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('sqlalchemy', 'numpy', 'celery', 'starlette') if m in sys.modules]; "
        "print(r.output); print('heavy:', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout
    for name in cli.COMMANDS:
        assert f"  {name} " in result.stdout
    version = invoke("--version")
    assert version.exit_code == 0 and version.stdout.startswith("panchang, version ")


def test_every_registered_command_imports_and_has_its_name() -> None:
    for name in cli.COMMANDS:
        command = cli.main.get_command(click.Context(cli.main), name)
        assert command is not None and command.name == name, name


def test_no_help_line_is_cut_off() -> None:
    # Click shortens a command's first help sentence to 45 characters and ends it with "...";
    # an operator scanning `panchang users --help` should read whole phrases.
    def walk(command: click.Command, path: list[str]) -> Iterator[list[str]]:
        yield path
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, name
                yield from walk(sub, [*path, name])

    checked = 0
    for path in walk(cli.main, []):
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        cut = [line for line in result.output.splitlines()[1:] if line.rstrip().endswith("...")]
        assert not cut, (path, cut)
        checked += 1
    assert checked >= 29  # every group and command, not just the top level


def test_a_bad_latitude_reads_the_same_in_every_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/p.db"
    assert invoke("--database-url", db, "db", "upgrade").exit_code == 0
    assert invoke("--database-url", db, "users", "add", "--phone", "+919845012345",
                  "--lat", "12.97", "--lon", "77.59").exit_code == 0  # fmt: skip
    (tmp_path / "people.csv").write_text("phone,latitude,longitude\n+919845012346,91,77.59\n")
    expected = "invalid latitude '91': latitude must be between -90 and 90 degrees"
    lines = [
        one_line(invoke("--database-url", db, "users", "add", "--phone", "+919845012347",
                        "--lat", "91", "--lon", "77.59"), 2),
        one_line(invoke("--database-url", db, "users", "update", "1", "--lat", "91"), 2),
        one_line(invoke("panchangam", "--lat", "91", "--lon", "77.59", "--tz", "Asia/Kolkata"), 2),
    ]  # fmt: skip
    assert lines == [f"Error: {expected}"] * 3
    imported = invoke("--database-url", db, "users", "import", str(tmp_path / "people.csv"))
    assert f"line 2: {expected}" in imported.output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_SENTINELS": "10.0.0.1:26379,10.0.0.2"},
         "invalid REDIS_SENTINELS '10.0.0.1:26379,10.0.0.2': '10.0.0.2' is not host:port"),
        ({"REDIS_SENTINELS": "10.0.0.1:26379"},
         "REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not"),
        ({"REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "panchang",
          "REDIS_URL": "redis://10.0.0.1:6379/0"},
         "REDIS_URL and REDIS_SENTINELS are both set"),
    ],
)  # fmt: skip
def test_a_bad_sentinel_setting_is_one_error_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert str(err.value).startswith(message)


def test_sentinels_reach_every_redis_user_and_child_processes() -> None:
    env = {"REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379,10.0.0.3:26379",
           "REDIS_SENTINEL_MASTER": "panchang"}  # fmt: skip
    settings = Settings.from_env(env)
    assert settings.redis_url == (
        "redis-sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/panchang/0"
    )
    child = settings.to_env()
    assert "REDIS_URL" not in child
    assert Settings.from_env(child).redis_url == settings.redis_url
    app = create_app(settings)
    assert app.conf.broker_url == (
        "sentinel://10.0.0.1:26379/0;sentinel://10.0.0.2:26379/0;sentinel://10.0.0.3:26379/0"
    )
    assert app.conf.broker_transport_options["master_name"] == "panchang"
    assert app.conf.redbeat_redis_options["service_name"] == "panchang"
    assert app.conf.redbeat_redis_options["sentinels"][2] == ["10.0.0.3", 26379]
