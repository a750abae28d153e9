#!/usr/bin/env python3
"""The production stack under docker compose: `just up`, `just up-test`, `just down`.

    composestack.py up [--test]    render compose/generated/ from the fragments, create the edge
                                   network, fill in missing internal secrets, build the images
                                   and start everything, returning once every service is healthy
    composestack.py down           stop the stack that `up` started (volumes kept)
    composestack.py rebuild SVC    build one service again and replace its container

`up --test` is `up` plus docker-compose.test.yml: Pebble as the ACME CA (through the production
resolver's ACME_CA_SERVER / ACME_CA_ROOT), the development login, the test CA's root written to
`<data>/test-ca.pem`, and the public names resolving to this machine (an /etc/hosts block). It
returns once every public name serves a certificate from that CA.

Environment: GATEWAY_ENV_FILE (default .env), GATEWAY_DATA_DIR (default data/),
COMPOSE_PROJECT_NAME (default mcp-gateway), GATEWAY_BIN_DIR (authd and sidecar for local builds;
default: a release build), GATEWAY_COVERAGE_DIR (with it: docker-compose.coverage.yml, profiles
written there), GATEWAY_EXTRA_COMPOSE (further compose files, `:`-separated, applied
last: site overrides, the test suite's). Exit codes: 0 ok, 1 failure, 64 bad settings.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envfile import create_env, keygen_in_image, read_env, set_values, write_key  # noqa: E402
from fragments import ROOT, FragmentError  # noqa: E402
from gateway import selected_servers  # noqa: E402
from hostsfile import remove_block, write_block  # noqa: E402
from images import ImageError, builds_locally, prepare  # noqa: E402
from testacme import acme_settings, public_names, wait_for_certificates, wait_routed, write_acme_files  # noqa: E402
from traefik import coverage_overlay, write_compose  # noqa: E402

EX_USAGE = 64
STATE = "compose-stack.json"
UP_TIMEOUT_SECS = 600


class SettingsError(ValueError):
    """Settings that cannot start the stack, every problem named."""


def compose_cmd(state: dict) -> list[str]:
    cmd = ["docker", "compose", "--project-name", state["project"], "--env-file", state["env_file"]]
    for f in state["files"]:
        cmd += ["-f", f]
    return cmd


def compose_env(state: dict, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The compose process environment: the settings file also reaches the included files and
    authd's env_file, the project name scopes networks and Traefik's constraint."""
    # Settings come from the settings file only (`just` exports the project's .env, which must not
    # leak into a stack started with another file).
    documented = read_env(ROOT / ".env.example")
    env = {k: v for k, v in os.environ.items() if k not in documented}
    env.update({"GATEWAY_ENV_FILE": state["env_file"], "GATEWAY_DATA_DIR": state["data_dir"],
                "COMPOSE_PROJECT_NAME": state["project"]})
    if state.get("coverage_dir"):
        env["GATEWAY_COVERAGE_DIR"] = state["coverage_dir"]
    env.update(extra or {})
    return env


def check_settings(env: dict[str, str], any_port: bool = False) -> None:
    """What compose cannot check itself: an https PUBLIC_URL that matches the routing. Compose
    publishes port 443; `any_port`: the orchestrator publishes PUBLIC_URL's port (swarm.py)."""
    problems = []
    routing = env.get("ROUTING", "path")
    url = urlsplit(env.get("PUBLIC_URL", ""))
    base = env.get("BASE_DOMAIN", "")
    if routing not in ("path", "host"):
        problems.append(f"ROUTING must be path or host, not {routing!r}")
    if not base or base == "example.com":
        problems.append("BASE_DOMAIN must be your domain (its names must point at this server)")
    if url.scheme != "https":
        problems.append(f"PUBLIC_URL must be https://... behind Traefik, not {env.get('PUBLIC_URL')!r}")
    elif url.port and not any_port:
        problems.append(f"PUBLIC_URL must not name a port (Traefik serves 443), not {url.geturl()}")
    elif routing == "path" and url.hostname != base:
        problems.append(f"PUBLIC_URL must be https://{base} in path routing (BASE_DOMAIN), not {url.geturl()}")
    if problems:
        raise SettingsError("\n  ".join(["invalid settings:", *problems]))


def fill_internal_secrets(env_file: Path) -> list[str]:
    """REDIS_PASSWORD is the stack's own: generate it when blank (never start Redis without one).
    Returns the names written."""
    values = {}
    if not read_env(env_file).get("REDIS_PASSWORD"):
        values["REDIS_PASSWORD"] = secrets.token_urlsafe(24)
    if values:
        env_file.write_text(set_values(env_file.read_text(), values))
        env_file.chmod(0o600)
    return list(values)


def release_binaries() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(["cargo", "build", "--release", "-p", "authd", "-p", "sidecar"], cwd=ROOT, check=True)
    return target / "release"


def prepare_stack(state: dict, test: bool, log=print) -> tuple[dict[str, str], list, dict[str, str]]:
    """Everything `up` needs before the orchestrator starts (shared with swarm.py): the settings
    file and its secrets, compose/generated/, the test CA's files, the images, the signing key and
    the test names. Returns the settings, the servers and the compose process environment."""
    env_file = Path(state["env_file"])
    data = Path(state["data_dir"])
    data.mkdir(parents=True, exist_ok=True)
    if not env_file.exists():
        create_env(ROOT / ".env.example", env_file, None)
        log(f"composestack: created {env_file} from .env.example (edit BASE_DOMAIN, PUBLIC_URL, ...)")
    for name in fill_internal_secrets(env_file):
        log(f"composestack: generated {name} in {env_file}")
    env = read_env(env_file)
    check_settings(env, any_port=state.get("swarm", False))
    servers = selected_servers(env.get("MCP_SERVICES", ""))
    write_compose(servers, env.get("ROUTING", "path"), ROOT / "compose" / "generated")
    extra = acme_settings(data) if test else {}
    if test:
        write_acme_files(data, env, servers)
        state["files"].append(str(data / "test-names.yml"))
        state["test"] = True
    if os.environ.get("GATEWAY_COVERAGE_DIR"):
        add_coverage(state, servers)
    save_state(state)
    cenv = compose_env(state, extra)
    build(state, env, servers, cenv, log=log)
    if not env.get("JWT_PRIVATE_KEY"):
        write_key(env_file, keygen_in_image())
        log(f"composestack: generated JWT_PRIVATE_KEY in {env_file}")
    if test:
        names = public_names(env, servers)
        write_block(state["project"], env.get("PUBLISH_ADDRESS") or "127.0.0.1", names)
    return read_env(env_file), servers, cenv


def up(state: dict, test: bool, log=print) -> None:
    env, servers, cenv = prepare_stack(state, test, log)
    edge = env.get("EDGE_NETWORK", "mcp-edge")
    if subprocess.run(["docker", "network", "inspect", edge], capture_output=True).returncode != 0:
        subprocess.run(["docker", "network", "create", edge], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*compose_cmd(state), "up", "-d", "--no-build", "--remove-orphans", "--wait",
                    "--wait-timeout", str(UP_TIMEOUT_SECS)], env=cenv, check=True)
    if test:
        wait_for_certificates(env, servers, Path(state["data_dir"]) / "test-ca.pem")
        wait_routed(env, servers, Path(state["data_dir"]) / "test-ca.pem")


def build(state: dict, env: dict[str, str], servers, cenv: dict[str, str], services: tuple[str, ...] = (),
          log=print) -> None:
    """`docker compose build`, with the local inputs where images are built locally."""
    args = []
    if builds_locally(env.get("DOCKER_BUILD", "auto")):
        bin_dir = Path(os.environ["GATEWAY_BIN_DIR"]) if os.environ.get("GATEWAY_BIN_DIR") else release_binaries()
        args = prepare(servers, bin_dir, log)
    subprocess.run([*compose_cmd(state), "build", *args, *services], env=cenv, check=True)


def rebuild(state: dict, service: str) -> None:
    """`just rebuild SERVICE`: build one service again and replace its container."""
    env = read_env(Path(state["env_file"]))
    cenv = compose_env(state, acme_settings(Path(state["data_dir"])) if "test" in state else {})
    build(state, env, selected_servers(env.get("MCP_SERVICES", "")), cenv, (service,))
    subprocess.run([*compose_cmd(state), "up", "-d", "--no-build", "--no-deps", "--force-recreate", "--wait",
                    service], env=cenv, check=True)


def add_coverage(state: dict, servers) -> None:
    """docker-compose.coverage.yml and its generated sidecar part (profiles are written by uids
    10001 and 1000 in the containers: the directory is open to them)."""
    profiles = Path(os.environ["GATEWAY_COVERAGE_DIR"])
    profiles.mkdir(parents=True, exist_ok=True)
    profiles.chmod(0o777)
    sidecars = Path(state["data_dir"]) / "coverage-sidecars.yml"
    sidecars.write_text(json.dumps(coverage_overlay(servers), indent=1))
    state["files"] += [str(ROOT / "docker-compose.coverage.yml"), str(sidecars)]
    state["coverage_dir"] = str(profiles)


def down(state: dict) -> None:
    subprocess.run([*compose_cmd(state), "down", "--remove-orphans"], env=compose_env(state), check=True)
    remove_block(state["project"])


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE


def save_state(state: dict) -> None:
    path = state_path(Path(state["data_dir"]))
    path.write_text(json.dumps(state, indent=1))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="composestack.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "rebuild"])
    parser.add_argument("service", nargs="?", help="rebuild: the compose service")
    parser.add_argument("--test", action="store_true", help="with the ACME test CA and development login")
    args = parser.parse_args(argv)
    env_file = Path(os.environ.get("GATEWAY_ENV_FILE") or ROOT / ".env").resolve()
    data_dir = Path(os.environ.get("GATEWAY_DATA_DIR") or ROOT / "data").resolve()
    project = os.environ.get("COMPOSE_PROJECT_NAME") or "mcp-gateway"
    try:
        if args.command in ("down", "rebuild"):
            path = state_path(data_dir)
            state = json.loads(path.read_text()) if path.exists() else {
                "project": project, "env_file": str(env_file), "data_dir": str(data_dir),
                "files": [str(ROOT / "docker-compose.yml")]}
            if args.command == "rebuild":
                if not args.service:
                    raise SettingsError("rebuild needs a service, e.g. mcp-fetch")
                rebuild(state, args.service)
            else:
                down(state)
            return 0
        files = [str(ROOT / "docker-compose.yml")] + ([str(ROOT / "docker-compose.test.yml")] if args.test else [])
        files += [f for f in os.environ.get("GATEWAY_EXTRA_COMPOSE", "").split(os.pathsep) if f]
        up({"project": project, "env_file": str(env_file), "data_dir": str(data_dir), "files": files},
           args.test)
        return 0
    except (SettingsError, FragmentError, ImageError) as err:
        print(f"composestack.py: {err}", file=sys.stderr)
        return EX_USAGE
    except subprocess.CalledProcessError as err:
        print(f"composestack.py: {' '.join(map(str, err.cmd[:6]))}... exited with {err.returncode}", file=sys.stderr)
        return 1
    except RuntimeError as err:
        print(f"composestack.py: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
