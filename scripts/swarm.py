#!/usr/bin/env python3
"""The production stack on Docker Swarm: `just stack-deploy`, `just stack-rm`.

    swarm.py deploy [--test]   render the flat stack file from the compose model and deploy it
                               (a one-node swarm is initialized when there is none), returning once
                               every service has its replicas running and healthy
    swarm.py rm                remove the stack (volumes kept)

`docker stack deploy` ignores `build`, `include`, `extends`, `depends_on` and `.env`, and takes
secrets from files only. So the compose stack is rendered exactly as `just up` renders it
(composestack.prepare_stack: settings, compose/generated/, images, test CA files) and flattened by
`docker compose config` into one resolved model, which `stack_file` turns into a stack: labels
become service labels for Traefik's swarm provider, secrets become files, replicas come from the
settings, authd updates start-first. One renderer, two orchestrators.

`--test` is `just up-test` on Swarm: Pebble and the development login join the stack, the test
CA's root is written to `<data>/test-ca.pem` before authd starts (it trusts it), and the public
names resolve to this machine. The published HTTPS port is PUBLIC_URL's (443 when it names none):
a published port is taken on every address of the node, so a test stack beside compose stacks
uses another.

Environment: as composestack.py (GATEWAY_ENV_FILE, GATEWAY_DATA_DIR, COMPOSE_PROJECT_NAME = the
stack name, GATEWAY_BIN_DIR, GATEWAY_EXTRA_COMPOSE). Exit codes: 0 ok, 1 failure, 64 bad settings.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import composestack  # noqa: E402
from envfile import SECRET_SETTING, read_env, set_values  # noqa: E402
from fragments import ROOT, FragmentError, replica_counts  # noqa: E402
from gateway import selected_servers  # noqa: E402
from hostsfile import remove_block  # noqa: E402
from images import ImageError  # noqa: E402
from testacme import public_names, wait_for_certificates, wait_routed  # noqa: E402

EX_USAGE = 64
STACK_FILE = "swarm-stack.yml"
SECRETS_DIR = "swarm-secrets"
DEPLOY_TIMEOUT_SECS = 900.0
# Compose keys that Swarm does not know or that the stack expresses otherwise (`security_opt`,
# no-new-privileges, has no Swarm counterpart: the tasks keep their user, read-only root and
# dropped capabilities).
DROPPED_KEYS = ("build", "depends_on", "restart", "container_name", "env_file", "security_opt",
                "extends", "labels")
# One-shot services of the compose model (compose `restart: "no"`): a Swarm job runs them once.
ONE_SHOT = "no"
DEFAULT_HTTPS_PORT = 443
HEALTH_TIMEOUT = "30s"
HEALTH_RETRIES = 5


class SwarmError(RuntimeError):
    """The swarm did not converge (which service, what it shows)."""


# ---------------------------------------------------------------------------------------------------
# Rendering: the resolved compose model -> a stack file
# ---------------------------------------------------------------------------------------------------
def https_port(public_url: str) -> int:
    return urlsplit(public_url).port or DEFAULT_HTTPS_PORT


def with_port(value: str, names: list[str], port: int) -> str:
    """`https://<name>` of the stack's public names with PUBLIC_URL's port (when it names one):
    the test overlay's issuer of the development login is written without."""
    if port == DEFAULT_HTTPS_PORT:
        return value
    pattern = re.compile(r"https://(" + "|".join(re.escape(n) for n in names) + r")(?=[/,]|$)")
    return pattern.sub(lambda m: f"https://{m.group(1)}:{port}", value)


def secret_name(setting: str) -> str:
    return setting.lower()


def secret_entrypoint(entrypoint: list[str], settings: list[str]) -> list[str]:
    """The image's entrypoint behind a shell that exports each secret file as its setting, so
    that the value is in the process environment only (not in the service definition, nor in the
    process arguments). A setting of the binaries' own `NAME_FILE` form (see .env.example) makes
    this wrapper unnecessary once every binary reads it."""
    exports = "; ".join(f'{s}="$$(cat /run/secrets/{secret_name(s)})"; export {s}' for s in settings)
    # `$$`: a literal `$` for the shell (the stack file is interpolated as compose files are).
    return ["sh", "-c", f'{exports}; exec "$$0" "$$@"', *entrypoint]


def traefik_command(command: list[str], stack: str, port: int) -> list[str]:
    """Traefik's docker provider becomes its swarm provider (Traefik v3 `providers.swarm`),
    constrained to this stack's services; HTTPS on PUBLIC_URL's port."""
    out = [a.replace("websecure.address=:443", f"websecure.address=:{port}") for a in command
           if not a.startswith("--providers.docker")]
    return out + [
        "--providers.swarm=true",
        "--providers.swarm.exposedbydefault=false",
        f"--providers.swarm.constraints=Label(`com.docker.stack.namespace`,`{stack}`)",
        # Fresh tasks are seen within seconds (rolling updates, scaling).
        "--providers.swarm.refreshseconds=5",
    ]


def swarm_labels(labels: dict[str, str]) -> dict[str, str]:
    """Router labels for the swarm provider (its own key for the network to reach tasks on).
    Traefik balances over the tasks' own addresses itself, as it lists them every few seconds."""
    return {k.replace("traefik.docker.", "traefik.swarm."): v for k, v in labels.items()}


def deploy_section(name: str, svc: dict, replicas: dict[str, int], one_shot: bool) -> dict:
    # DNS round robin, no virtual IP: a service name resolves to its healthy tasks' addresses.
    # The virtual IP and the routing mesh need the kernel's IPVS, which not every host has (this
    # machine kind has none); Traefik reaches the tasks directly either way.
    if one_shot:
        return {"mode": "replicated-job", "endpoint_mode": "dnsrr",
                "restart_policy": {"condition": "on-failure", "delay": "2s", "max_attempts": 30}}
    deploy: dict = {"replicas": replicas.get(name, 1), "endpoint_mode": "dnsrr",
                    "restart_policy": {"condition": "any", "delay": "2s"}}
    if name == "authd":
        # A new authd task is healthy before an old one stops: no moment without a verifier.
        deploy["update_config"] = {"order": "start-first", "parallelism": 1, "failure_action": "rollback",
                                   "monitor": "10s"}
    if name == "traefik":
        # The swarm provider reads the engine's API, which only a manager serves.
        deploy["placement"] = {"constraints": ["node.role == manager"]}
    if svc.get("labels"):
        deploy["labels"] = swarm_labels(svc["labels"])
    return deploy


@dataclasses.dataclass(frozen=True)
class Target:
    """What the stack file is rendered for: the stack's name, its HTTPS port and public names,
    the replica counts, the secret files (setting -> path) and each service's entrypoint."""

    stack: str
    port: int
    names: list[str]
    replicas: dict[str, int]
    secrets: dict[str, Path]
    entrypoints: dict[str, list[str]]


def stack_service(name: str, svc: dict, target: Target, one_shot: bool) -> dict:
    out = {k: v for k, v in svc.items() if k not in DROPPED_KEYS and v is not None}
    # Compose's own bind options (`create_host_path`) are not in the stack file format, and a
    # swarm ignores `tmpfs:`; a tmpfs mount is what it takes.
    out["volumes"] = [{k: v for k, v in m.items() if k != "bind"} for m in out.get("volumes", [])]
    out["volumes"] += [{"type": "tmpfs", "target": path} for path in out.pop("tmpfs", [])]
    if not out["volumes"]:
        del out["volumes"]
    out["deploy"] = deploy_section(name, svc, target.replicas, one_shot)
    if "healthcheck" in out:
        # Compose only reads health to order the start; a swarm replaces an unhealthy task, so
        # a check that is merely slow on a loaded host must not kill a working one.
        out["healthcheck"] = {**out["healthcheck"], "timeout": HEALTH_TIMEOUT,
                              "retries": max(out["healthcheck"].get("retries", 3), HEALTH_RETRIES)}
    # Secret settings reach the container as Docker secrets (files under /run/secrets/), never
    # as environment in the service definition, which `docker service inspect` shows.
    mine = [s for s in target.secrets if s in (out.get("environment") or {})]
    env = {k: with_port(v, target.names, target.port) if isinstance(v, str) else v
           for k, v in (out.get("environment") or {}).items() if not SECRET_SETTING.search(k)}
    if mine:
        out["entrypoint"] = secret_entrypoint(target.entrypoints.get(name, []), mine)
        out["secrets"] = [*out.get("secrets", []), *({"source": secret_name(s)} for s in mine)]
    if env:
        out["environment"] = env
    if name == "traefik":
        out["command"] = traefik_command(out["command"], target.stack, target.port)
        # The same port inside and out: a public URL means the same inside the stack (the
        # containers reach the public names through Traefik's aliases) as outside. Published on
        # the node that runs Traefik (the routing mesh needs IPVS; see deploy_section).
        ports = [target.port] if target.port != DEFAULT_HTTPS_PORT else [80, DEFAULT_HTTPS_PORT]
        out["ports"] = [{"target": p, "published": p, "protocol": "tcp", "mode": "host"} for p in ports]
    else:
        out.pop("ports", None)
    return out


def stack_file(model: dict, target: Target) -> dict:
    """The stack file of a resolved compose model (`docker compose config --format json`)."""
    # One-shots: compose runs them to completion before their dependents (`restart: "no"`, or
    # waited for with `service_completed_successfully`); a swarm runs them as jobs.
    one_shots = {name for name, svc in model["services"].items() if svc.get("restart") == ONE_SHOT}
    one_shots |= {dep for svc in model["services"].values() for dep, cond in (svc.get("depends_on") or {}).items()
                  if cond.get("condition") == "service_completed_successfully"}
    services = {name: stack_service(name, svc, target, name in one_shots) for name, svc in model["services"].items()}
    for name, svc in services.items():
        if svc.pop("network_mode", None) == "none":
            # Swarm has no `network_mode`; a one-shot that needs no network (the repository
            # init, `<server>-init`) joins the internal network of its server, which leads nowhere.
            own = services[name.removesuffix("-init")]["networks"]
            svc["networks"] = {key: None for key in own if key.endswith("-internal")}
    networks = {key: {"name": net["name"], "driver": "overlay",
                      # Overlay networks span the swarm's nodes; `internal` keeps its meaning.
                      **({"internal": True} if net.get("internal") else {})}
                for key, net in model.get("networks", {}).items()}
    doc: dict = {"version": "3.9", "services": services, "networks": networks}
    if model.get("volumes"):
        doc["volumes"] = {k: {"name": v["name"]} for k, v in model["volumes"].items()}
    # Configs and secrets are immutable in a swarm: a changed content gets a new name.
    doc["configs"] = {k: {"name": f"{target.stack}-{k}-{digest(Path(v['file']))}", "file": v["file"]}
                      for k, v in model.get("configs", {}).items()}
    doc["secrets"] = {secret_name(k): {"name": f"{target.stack}-{secret_name(k)}-{digest(p)}", "file": str(p)}
                      for k, p in target.secrets.items()}
    return doc


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------
# Deploying
# ---------------------------------------------------------------------------------------------------
def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=600).stdout


def ensure_swarm(log=print) -> None:
    """A one-node swarm when this engine is in none (the issue 12 contract)."""
    if docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() != "active":
        log("swarm: initializing a one-node swarm")
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")


def write_secrets(model: dict, directory: Path) -> dict[str, Path]:
    """One file per secret setting (SECRET_SETTING) that a service's environment sets (mode 600,
    in the data directory)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {k: v for svc in model["services"].values() for k, v in (svc.get("environment") or {}).items()}
    out = {}
    for setting in sorted(env):
        if SECRET_SETTING.search(setting) and env[setting]:
            path = directory / secret_name(setting)
            path.write_text(env[setting].replace("$$", "$"))  # the model escapes `$` as `$$`
            path.chmod(0o600)
            out[setting] = path
    return out


def entrypoints(model: dict) -> dict[str, list[str]]:
    """Each service's entrypoint, its own or its image's (the secret wrapper runs it)."""
    out = {}
    for name, svc in model["services"].items():
        found = svc.get("entrypoint") or json.loads(
            docker("image", "inspect", "-f", "{{json .Config.Entrypoint}}", svc["image"]) or "null")
        out[name] = found or []
    return out


def resolved_model(state: dict, cenv: dict[str, str]) -> dict:
    """`docker compose config`: includes, extends, overlays and .env resolved into one model."""
    out = subprocess.run([*composestack.compose_cmd(state), "config", "--format", "json"], env=cenv,
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


def service_replicas(servers, env: dict[str, str]) -> dict[str, int]:
    """Replicas per service name of the stack (fragments.replica_counts, as every mode)."""
    counts = replica_counts(servers, env)
    return {"authd": counts.authd, **{s.service: counts.of(s) for s in servers}}


def deploy_file(doc: dict, path: Path, stack: str, prune: bool = True) -> None:
    """`docker stack deploy`; `prune`: services no longer in the file are removed."""
    path.write_text("# Generated by scripts/swarm.py (`just stack-deploy`): do not edit.\n"
                    + yaml.safe_dump(doc, sort_keys=False, width=200))
    docker("stack", "deploy", "--resolve-image", "never", *(["--prune"] if prune else []), "-c", str(path), stack)


def services_state(stack: str) -> dict[str, str]:
    """Service -> `running/desired` replicas (jobs: completed tasks) as `docker service ls` says."""
    out = docker("service", "ls", "--filter", f"label=com.docker.stack.namespace={stack}",
                 "--format", "{{.Name}} {{.Replicas}}")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def converged(replicas: str) -> bool:
    """`2/2` (replicated: a task with a healthcheck counts once healthy) or `1/1 (1/1 completed)`."""
    job = re.search(r"\((\d+)/(\d+) completed\)", replicas)
    if job:
        return job.group(1) == job.group(2)
    running, _, desired = replicas.partition("/")
    return running == desired and desired != "0"


def wait_converged(stack: str, services: list[str], timeout: float = DEPLOY_TIMEOUT_SECS) -> None:
    """Until every named service has all its replicas running and healthy (bounded)."""
    deadline = time.monotonic() + timeout
    pending: dict[str, str] = {}
    while time.monotonic() < deadline:
        state = services_state(stack)
        pending = {n: state.get(f"{stack}_{n}", "absent") for n in services
                   if not converged(state.get(f"{stack}_{n}", "0/0"))}
        if not pending:
            return
        time.sleep(1)  # poll interval between real `docker service ls` answers, bounded
    raise SwarmError(f"not converged after {timeout:.0f} s: {pending} "
                     f"(see `docker service ps {stack}_<service> --no-trunc`)")


def wait_for_file(path: Path, timeout: float = DEPLOY_TIMEOUT_SECS) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SwarmError(f"no {path} after {timeout:.0f} s (see `docker service logs` of test-ca)")
        time.sleep(0.5)  # poll interval for a file a job writes, bounded


def fill_session_key(env_file: Path, log=print) -> None:
    """SIDECAR_SESSION_KEY, shared by the replicas of a service (it seals a session's owner into
    its id), generated when blank and some MCP service runs more than one replica."""
    if not env_file.exists():
        return
    env = read_env(env_file)
    servers = selected_servers(env.get("MCP_SERVICES", ""))
    counts = replica_counts(servers, env)
    if not env.get("SIDECAR_SESSION_KEY") and any(counts.of(s) > 1 for s in servers):
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        env_file.write_text(set_values(env_file.read_text(), {"SIDECAR_SESSION_KEY": key}))
        log(f"swarm: generated SIDECAR_SESSION_KEY in {env_file}")


def deploy(state: dict, test: bool, log=print) -> None:
    stack, data = state["project"], Path(state["data_dir"])
    ensure_swarm(log)
    fill_session_key(Path(state["env_file"]), log)
    env, servers, cenv = composestack.prepare_stack(state, test, log)
    model = resolved_model(state, cenv)
    secret_files = write_secrets(model, data / SECRETS_DIR)
    target = Target(stack, https_port(env["PUBLIC_URL"]), public_names(env, servers),
                    service_replicas(servers, env), secret_files, entrypoints(model))
    doc = stack_file(model, target)
    path = data / STACK_FILE
    if test:
        # The test CA first: authd trusts its root, which Pebble makes anew at each start.
        if f"{stack}_pebble" not in services_state(stack):
            (data / "test-ca.pem").unlink(missing_ok=True)
        first = {"pebble", "test-ca"}
        deploy_file({**doc, "services": {k: v for k, v in doc["services"].items() if k in first}}, path, stack,
                    prune=False)
        wait_for_file(data / "test-ca.pem")
    deploy_file(doc, path, stack)
    wait_converged(stack, list(doc["services"]))
    if test:
        wait_for_certificates(env, servers, data / "test-ca.pem", https_port(env["PUBLIC_URL"]))
        wait_routed(env, servers, data / "test-ca.pem", https_port(env["PUBLIC_URL"]))


def remove(state: dict) -> None:
    """`docker stack rm`, then until its networks are gone (a new deploy could not create them)."""
    stack = state["project"]
    docker("stack", "rm", stack, check=False)
    deadline = time.monotonic() + DEPLOY_TIMEOUT_SECS
    label = f"label=com.docker.stack.namespace={stack}"
    # Until its containers have stopped and its networks are gone (its volumes can then be
    # removed, and a new deploy can create the networks again).
    while (docker("ps", "-q", "--filter", label).strip()
           or docker("network", "ls", "-q", "--filter", label).strip()):
        if time.monotonic() > deadline:
            raise SwarmError(f"stack {stack} still has containers or networks after {DEPLOY_TIMEOUT_SECS:.0f} s")
        time.sleep(0.5)  # poll interval between real `docker ps` / `docker network ls` answers, bounded
    # A swarm keeps the stopped containers of finished jobs; they hold the volumes they mounted.
    # The engine may be removing some itself (old tasks of a scaled or updated service), and
    # refuses a second removal of those ("already in progress"): until none is left, bounded.
    while leftovers := docker("ps", "-aq", "--filter", label).split():
        if time.monotonic() > deadline:
            raise SwarmError(f"stack {stack}: containers {' '.join(leftovers)} not removed after "
                             f"{DEPLOY_TIMEOUT_SECS:.0f} s")
        docker("rm", "-f", *leftovers, check=False)
        time.sleep(0.5)  # poll interval while the engine finishes removals it had begun, bounded
    remove_block(stack)
    # The test CA's root dies with its Pebble (a new one makes a new root).
    (Path(state["data_dir"]) / "test-ca.pem").unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="swarm.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["deploy", "rm"])
    parser.add_argument("--test", action="store_true", help="with the ACME test CA and development login")
    args = parser.parse_args(argv)
    env_file = Path(os.environ.get("GATEWAY_ENV_FILE") or ROOT / ".env").resolve()
    data_dir = Path(os.environ.get("GATEWAY_DATA_DIR") or ROOT / "data").resolve()
    files = [str(ROOT / "docker-compose.yml")] + ([str(ROOT / "docker-compose.test.yml")] if args.test else [])
    files += [f for f in os.environ.get("GATEWAY_EXTRA_COMPOSE", "").split(os.pathsep) if f]
    state = {"project": os.environ.get("COMPOSE_PROJECT_NAME") or "mcp-gateway", "env_file": str(env_file),
             "data_dir": str(data_dir), "files": files, "swarm": True}
    try:
        if args.command == "rm":
            remove(state)
        else:
            deploy(state, args.test)
        return 0
    except (composestack.SettingsError, FragmentError, ImageError) as err:
        print(f"swarm.py: {err}", file=sys.stderr)
        return EX_USAGE
    except subprocess.CalledProcessError as err:
        detail = (err.stderr or "").strip().splitlines()[-3:]
        print(f"swarm.py: {' '.join(map(str, err.cmd[:6]))}... exited with {err.returncode}: "
              + " ".join(detail), file=sys.stderr)
        return 1
    except RuntimeError as err:
        print(f"swarm.py: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
