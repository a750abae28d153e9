#!/usr/bin/env python3
"""`just backup [FILE]` / `just restore FILE`: Redis data (registered clients, consents, refresh
tokens, the previous signing keys) as one RDB snapshot file.

Native mode: Redis listens on the unix socket `data/redis/redis.sock` of the running gateway and
persists to `data/redis/` (append-only file). A backup is `redis-cli --rdb` against the live server
(a consistent snapshot, the gateway keeps serving). A restore needs the gateway stopped: the current
data is moved aside (never deleted), the snapshot is loaded by a temporary Redis on the same
directory, which rewrites it as the append-only file the next `just run` loads, and shuts down.

Docker compose mode (`--compose`): the same two steps inside the `redis` service's volume, with
`docker compose exec` and a one-off container of the same image.

The password is passed to redis-cli in `REDISCLI_AUTH` and to redis-server on stdin, never as an
argument.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envfile import read_env  # noqa: E402
from fragments import ROOT  # noqa: E402
from run import PIDFILE, running_launcher, shown  # noqa: E402
from stack import MAX_SOCKET_PATH, redis_ping, wait_until  # noqa: E402

RDB_MAGIC = b"REDIS"
REWRITE_TIMEOUT_SECS = 300.0


def default_file() -> Path:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return ROOT / "backups" / f"redis-{stamp}.rdb"


def cli(socket_path: Path, password: str, *args: str) -> str:
    env = os.environ | {"REDISCLI_AUTH": password} if password else dict(os.environ)
    out = subprocess.run(["redis-cli", "-s", str(socket_path), *args], env=env, capture_output=True,
                         text=True, timeout=REWRITE_TIMEOUT_SECS)
    if out.returncode != 0 or out.stdout.startswith(("ERR", "NOAUTH", "WRONGPASS")):
        raise RuntimeError(f"redis-cli {' '.join(args)}: {(out.stderr or out.stdout).strip()}")
    return out.stdout


def info(socket_path: Path, password: str, section: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in cli(socket_path, password, "INFO", section).splitlines()
                if ":" in line)


def backup_native(target: Path, data_dir: Path, password: str) -> int:
    sock = data_dir / "redis" / "redis.sock"
    try:
        up = redis_ping(sock, password)
    except OSError:
        up = False
    if not up:
        print(f"backup: Redis does not answer on {sock}: start the gateway (`just run --detach`), or "
              f"copy {data_dir / 'redis'} while it is stopped", file=sys.stderr)
        return 1
    keys = cli(sock, password, "DBSIZE").strip()
    target.parent.mkdir(parents=True, exist_ok=True)
    cli(sock, password, "--rdb", str(target))
    target.chmod(0o600)
    print(f"backup: {keys} keys written to {shown(target)} ({target.stat().st_size} bytes)")
    return 0


def restore_native(source: Path, data_dir: Path, password: str) -> int:
    if running_launcher(data_dir / PIDFILE):
        print("restore: the gateway is running; `just stop` first", file=sys.stderr)
        return 1
    redis_dir = data_dir / "redis"
    sock = redis_dir / "redis.sock"
    if len(str(sock)) > MAX_SOCKET_PATH:
        print(f"restore: data directory too deep for a unix socket: {sock}", file=sys.stderr)
        return 1
    redis_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = redis_dir / f"before-restore-{stamp}"
    moved = [p for p in (redis_dir / "appendonlydir", redis_dir / "dump.rdb") if p.exists()]
    if moved:
        aside.mkdir()
        for p in moved:
            p.rename(aside / p.name)
    shutil.copyfile(source, redis_dir / "dump.rdb")
    # Loads dump.rdb (no append-only file yet), then turns the append-only file on, which rewrites
    # the whole dataset into it (Redis "Switching from RDB to AOF persistence").
    conf = (f"port 0\nunixsocket {sock}\nunixsocketperm 700\ndir {redis_dir}\nappendonly no\n"
            + (f"requirepass {password}\n" if password else ""))
    log = redis_dir / "restore.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(["redis-server", "-"], stdin=subprocess.PIPE, stdout=out,
                                stderr=subprocess.STDOUT, cwd=redis_dir, start_new_session=True)
    try:
        assert proc.stdin is not None
        proc.stdin.write(conf.encode())
        proc.stdin.close()
        wait_until("redis (restore)", lambda: redis_ping(sock, password), proc, log)
        keys = cli(sock, password, "DBSIZE").strip()
        cli(sock, password, "CONFIG", "SET", "appendonly", "yes")

        def rewritten() -> bool:
            p = info(sock, password, "persistence")
            return (p.get("aof_rewrite_in_progress") == "0" and p.get("aof_rewrite_scheduled") == "0"
                    and p.get("aof_enabled") == "1" and p.get("aof_last_bgrewrite_status") == "ok"
                    and any((redis_dir / "appendonlydir").glob("*.manifest")))

        wait_until("the append-only rewrite", rewritten, proc, log, timeout=REWRITE_TIMEOUT_SECS)
        cli(sock, password, "SHUTDOWN", "SAVE")
        proc.wait(timeout=60)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    print(f"restore: {keys} keys restored from {shown(source)} into {shown(redis_dir)}"
          + (f"; the previous data is in {shown(aside)}" if moved else "") + "; start with `just run`")
    return 0


def compose(*args: str, stdin: str | None = None) -> None:
    subprocess.run(["docker", "compose", *args], cwd=ROOT, check=True, input=stdin, text=True,
                   timeout=REWRITE_TIMEOUT_SECS)


# Inside the redis container: the password from the compose secret, as the healthcheck reads it.
AUTH = 'export REDISCLI_AUTH="$(cat /run/secrets/redis_password)"; '


def backup_compose(target: Path) -> int:
    compose("exec", "-T", "redis", "sh", "-c", AUTH + "redis-cli --rdb /data/backup.rdb >/dev/null")
    target.parent.mkdir(parents=True, exist_ok=True)
    compose("cp", "redis:/data/backup.rdb", str(target))
    compose("exec", "-T", "redis", "rm", "-f", "/data/backup.rdb")
    target.chmod(0o600)
    print(f"backup: written to {shown(target)} ({target.stat().st_size} bytes)")
    return 0


def restore_compose(source: Path) -> int:
    # authd first: nothing may write while the data is replaced.
    compose("stop", "authd", "redis")
    script = (AUTH + "set -e; cd /data; mkdir -p before-restore; "
              "for p in appendonlydir dump.rdb; do [ -e $p ] && mv $p before-restore/$p.$(date +%s); done; "
              "cat > dump.rdb; "
              "printf 'port 6380\\nappendonly no\\ndir /data\\ndaemonize yes\\nrequirepass %s\\n' "
              "\"$REDISCLI_AUTH\" > /tmp/restore.conf; redis-server /tmp/restore.conf; "
              "until redis-cli -p 6380 ping | grep -q PONG; do sleep 0.2; done; "
              "redis-cli -p 6380 config set appendonly yes >/dev/null; "
              "until redis-cli -p 6380 info persistence | grep -q 'aof_rewrite_in_progress:0' && "
              "ls appendonlydir/*.manifest >/dev/null 2>&1; do sleep 0.2; done; "
              "redis-cli -p 6380 shutdown save")
    with open(source, "rb") as f:
        subprocess.run(["docker", "compose", "run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", "redis",
                        "-c", script], cwd=ROOT, check=True, stdin=f, timeout=REWRITE_TIMEOUT_SECS)
    compose("start", "redis", "authd")
    print(f"restore: {source} restored into the redis-data volume (previous data in /data/before-restore)")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="backup.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["backup", "restore"])
    parser.add_argument("file", nargs="?", type=Path, help="backup: default backups/redis-<UTC time>.rdb")
    parser.add_argument("--compose", action="store_true", help="the docker compose stack's redis service")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--env-file", type=Path, default=ROOT / ".env")
    args = parser.parse_args(argv)
    password = read_env(args.env_file).get("REDIS_PASSWORD", "") if args.env_file.exists() else ""
    if args.command == "backup":
        target = (args.file or default_file()).resolve()
        return backup_compose(target) if args.compose else backup_native(target, args.data_dir, password)
    if not args.file or not args.file.is_file():
        print("restore: name an existing backup file, e.g. `just restore backups/redis-<time>.rdb`", file=sys.stderr)
        return 64
    with open(args.file, "rb") as f:
        if f.read(len(RDB_MAGIC)) != RDB_MAGIC:
            print(f"restore: {args.file} is not a Redis RDB file", file=sys.stderr)
            return 64
    source = args.file.resolve()
    return restore_compose(source) if args.compose else restore_native(source, args.data_dir, password)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
