"""The Swarm stack file (scripts/swarm.py): rendered from the compose model that `docker compose
config` resolves (the same files `just up-test` runs), accepted by Docker's own stack loader
(`docker stack config`) and by the compose-spec schema, with the contract of issue 12: replicas
from the settings, secrets from files (never in a service's environment), start-first updates of
authd, Traefik's swarm provider and the compose network segmentation."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

import composestack
from conftest import ROOT
from envfile import SECRET_SETTING, create_env, read_env
from images import prepare_wheels
from swarm import Target, service_replicas, stack_file, with_port, write_secrets
from test_compose import assert_valid, validator  # noqa: F401 (fixture)
from testacme import public_names, write_acme_files
from traefik import write_compose

PORT = 24443
SETTINGS = {"PUBLIC_URL": f"https://gw.example:{PORT}", "BASE_DOMAIN": "gw.example", "ROUTING": "path",
            "AUTHD_REPLICAS": "2", "MCP_REPLICAS_TIME": "2", "MCP_REPLICAS_FETCH": "3",
            "JWT_PRIVATE_KEY": "not-a-real-key", "REDIS_PASSWORD": "not-a-real-password",
            "OIDC_CLIENT_ID": "gateway", "OIDC_CLIENT_SECRET": "x", "DEV_LOGIN_USER": "dev",
            "DEV_LOGIN_PASSWORD": "y", "ACME_EMAIL": "ops@gw.example",
            "SIDECAR_SESSION_KEY": "c2Vzc2lvbi1rZXktb2YtdGhlLXJlcGxpY2FzLW9mLWEtc2VydmljZQ==",
            # An external Redis Sentinel deployment whose sentinels have their own password.
            "REDIS_SENTINELS": "10.0.0.11:26379,10.0.0.12:26379", "REDIS_SENTINEL_MASTER": "authd",
            "REDIS_SENTINEL_PASSWORD": "not-a-real-sentinel-password"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, servers):
    root = tmp_path_factory.mktemp("swarm")
    env_file, data = root / ".env", root / "data"
    create_env(ROOT / ".env.example", env_file, None, SETTINGS)
    env = read_env(env_file)
    write_compose(servers, "path", ROOT / "compose" / "generated")
    write_acme_files(data, env, servers)
    state = {"project": "gw", "env_file": str(env_file), "data_dir": str(data),
             "files": [str(ROOT / "docker-compose.yml"), str(ROOT / "docker-compose.test.yml"),
                       str(data / "test-names.yml")]}
    out = subprocess.run([*composestack.compose_cmd(state), "config", "--format", "json"],
                         env=composestack.compose_env(state), check=True, capture_output=True, text=True,
                         timeout=120).stdout
    model = json.loads(out)
    programs = {name: ["sidecar"] for name in model["services"] if name.startswith("mcp-")}
    programs |= {"authd": ["authd"], "mcp-git-init": ["git", "init", "--quiet"]}
    target = Target("gw", PORT, public_names(env, servers), service_replicas(servers, env),
                    write_secrets(model, data / "secrets"), programs)
    doc = stack_file(model, target)
    path = root / "stack.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return doc, path, env


def test_docker_accepts_the_stack_file(rendered):
    _, path, _ = rendered
    run = subprocess.run(["docker", "stack", "config", "-c", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]


def test_stack_file_is_valid_compose(rendered, validator):  # noqa: F811 (fixture)
    doc, _, _ = rendered
    assert_valid(validator, doc, "swarm stack")


def test_replicas_from_the_settings_and_jobs_for_one_shots(rendered, servers):
    services = rendered[0]["services"]
    assert services["authd"]["deploy"]["replicas"] == 2
    assert services["mcp-time"]["deploy"]["replicas"] == 2
    assert services["mcp-fetch"]["deploy"]["replicas"] == 3
    assert services["mcp-memory"]["deploy"]["replicas"] == 1
    for name in ("test-ca", "mcp-git-init"):  # compose runs them to completion first
        assert services[name]["deploy"]["mode"] == "replicated-job"
    # No virtual IP: service names resolve to the tasks (the routing mesh needs IPVS).
    assert {s["deploy"]["endpoint_mode"] for s in services.values()} == {"dnsrr"}
    assert not [n for n, s in services.items() if {"build", "depends_on", "restart", "labels"} & set(s)]


def test_authd_updates_start_first(rendered):
    update = rendered[0]["services"]["authd"]["deploy"]["update_config"]
    assert update["order"] == "start-first" and update["parallelism"] == 1


def test_health_checks_are_patient(rendered):
    # A swarm replaces an unhealthy task: a slow check on a loaded host must not kill it.
    for name, svc in rendered[0]["services"].items():
        if "healthcheck" in svc:
            assert svc["healthcheck"]["timeout"] == "30s" and svc["healthcheck"]["retries"] >= 5, name


def test_secrets_from_files_never_in_the_environment(rendered):
    doc, _, env = rendered
    services = doc["services"]
    for name, svc in services.items():
        assert not [k for k in (svc.get("environment") or {}) if SECRET_SETTING.search(k)], name
    authd = services["authd"]
    assert {"jwt_private_key", "redis_password", "redis_sentinel_password", "oidc_client_secret"} <= \
        {s["source"] for s in authd["secrets"]}
    assert authd["entrypoint"][:2] == ["sh", "-c"] and authd["entrypoint"][3:] == ["authd"]
    assert 'JWT_PRIVATE_KEY="$$(cat /run/secrets/jwt_private_key)"' in authd["entrypoint"][2]
    assert {s["source"] for s in services["mcp-time"]["secrets"]} == {"sidecar_request_state_key",
                                                                   "sidecar_session_key"}
    assert "secrets" not in services["mcp-git-init"]  # runs git, which takes no secret
    for key, secret in doc["secrets"].items():
        assert secret["name"].startswith(f"gw-{key}-")  # a new name for a new value (immutable)
    assert (ROOT / doc["secrets"]["jwt_private_key"]["file"]).read_text() == env["JWT_PRIVATE_KEY"]


def test_traefik_uses_the_swarm_provider_and_the_dynamic_file(rendered):
    traefik = rendered[0]["services"]["traefik"]
    command = traefik["command"]
    assert not [a for a in command if a.startswith("--providers.docker")]
    assert "--providers.swarm=true" in command and "--providers.swarm.exposedbydefault=false" in command
    assert "--providers.swarm.constraints=Label(`com.docker.stack.namespace`,`gw`)" in command
    assert "--providers.file.filename=/etc/traefik/dynamic.yml" in command
    assert f"--entrypoints.websecure.address=:{PORT}" in command
    assert traefik["ports"] == [{"target": PORT, "published": PORT, "protocol": "tcp", "mode": "host"}]
    assert traefik["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    labels = rendered[0]["services"]["mcp-time"]["deploy"]["labels"]
    assert labels["traefik.swarm.network"] == "gw-time"
    assert not [k for k in labels if k.startswith("traefik.docker.")]
    assert labels["traefik.http.routers.mcp-time.middlewares"].startswith("mcp-cors@file,")


def test_networks_keep_redis_away_from_mcp_services(rendered, servers):
    doc = rendered[0]
    assert {n["driver"] for n in doc["networks"].values()} == {"overlay"}
    assert doc["networks"]["store"]["internal"] is True
    services = doc["services"]
    assert list(services["redis"]["networks"]) == ["store"]
    on_store = sorted(n for n, s in services.items() if "store" in (s.get("networks") or {}))
    assert on_store == ["authd", "redis"]
    for s in servers:
        own = set(services[s.service]["networks"])
        assert own <= set(services["traefik"]["networks"]) | {f"{s.service}-egress"}, s.name
    assert set(services["mcp-git-init"]["networks"]) == {"mcp-git-internal"}


def test_public_names_carry_the_published_port(rendered):
    doc, _, _ = rendered
    assert doc["services"]["authd"]["environment"]["OIDC_ISSUER"] == f"https://login.gw.example:{PORT}"
    names = ["gw.example", "login.gw.example"]
    assert with_port("https://login.gw.example/cb,https://gw.example", names, PORT) == \
        f"https://login.gw.example:{PORT}/cb,https://gw.example:{PORT}"
    assert with_port("https://gw.example.evil/x", names, PORT) == "https://gw.example.evil/x"
    assert with_port("https://gw.example/x", names, 443) == "https://gw.example/x"


def test_a_stack_without_python_servers_fetches_no_wheels(servers):
    # MCP_SERVICES naming only Node servers: nothing to download (`pip download` with no
    # requirement fails, and `just up` with it).
    prepare_wheels([s for s in servers if s.runtime == "node"])
