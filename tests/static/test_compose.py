"""Compose output: every file valid against the compose-spec JSON schema (vendored in the pinned
check-jsonschema package, no network), Traefik routers following
docs/architecture/overview.md#one-source-of-truth-for-routes, networks keeping the MCP services
apart and away from Redis, a healthcheck on every service."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest
import yaml

from conftest import ROOT
from routes import AUTH_RESPONSE_HEADERS, CORS, IDENTITY_HEADERS
from traefik import MCP_MIDDLEWARES, dynamic_config, render_compose

ROUTINGS = ["path", "host"]


@pytest.fixture(scope="module")
def validator():
    schema_file = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    schema = json.loads(schema_file.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def assert_valid(validator, doc, what):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, f"{what}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


def load(path):
    return yaml.safe_load((ROOT / path).read_text())


def test_schema_rejects_a_broken_service(validator):
    broken = {"services": {"x": {"image": "a", "healthcheck": {"test": 5}, "colour": "blue"}}}
    assert len(list(validator.iter_errors(broken))) >= 2


@pytest.mark.parametrize("routing", ROUTINGS)
def test_generated_files_are_valid_compose(validator, servers, routing):
    for name, doc in render_compose(servers, routing).items():
        assert_valid(validator, doc, f"{routing}/{name}")


@pytest.mark.parametrize("path", ["compose/core.yml", "docker-compose.yml"]
                         + [f"compose/mcp-{n}.yml" for n in ("fetch", "filesystem", "memory", "time", "git",
                                                             "everything", "sequential-thinking")])
def test_committed_files_are_valid_compose(validator, path):
    assert_valid(validator, load(path), path)


def routers(labels):
    out = {}
    for key, value in labels.items():
        parts = key.split(".")
        if parts[:3] == ["traefik", "http", "routers"]:
            out.setdefault(parts[3], {})[".".join(parts[4:])] = value
    return out


def all_labels(servers, routing):
    docs = render_compose(servers, routing)
    labels = dict(docs["authd-routes.yml"]["services"]["authd-routes"]["labels"])
    for svc in docs["mcp-servers.yml"]["services"].values():
        labels.update(svc.get("labels", {}))  # one-shot services route nothing
    return labels


@pytest.mark.parametrize("routing", ROUTINGS)
def test_priorities_and_middlewares_follow_design(servers, routing):
    labels = all_labels(servers, routing)
    table = routers(labels)
    by_priority = {}
    for name, r in table.items():
        by_priority.setdefault(int(r["priority"]), []).append(name)
        assert r["entrypoints"] == "websecure" and r["tls.certresolver"] == "letsencrypt"
    assert sorted(by_priority) == [1, 2, 3, 4]
    assert set(by_priority[2]) == {s.service for s in servers}
    assert by_priority[1] == ["catch-all"]
    assert {f"{s.service}-prm" for s in servers} <= set(by_priority[4])
    for s in servers:
        mcp = table[s.service]
        assert mcp["service"] == s.service
        middlewares = mcp["middlewares"].split(",")
        # CORS, identity strip, forward-auth, then the client's token dropped.
        assert middlewares[:len(MCP_MIDDLEWARES)] == list(MCP_MIDDLEWARES)
        assert middlewares.index("mcp-auth@file") < middlewares.index("strip-authorization@file")
        preflight = table[f"{s.service}-preflight"]
        assert preflight["rule"] == f"{mcp['rule']} && Method(`OPTIONS`)"
        assert preflight["service"] == "authd" and int(preflight["priority"]) > int(mcp["priority"])
        # Traefik reaches a sidecar over cleartext HTTP/2 (scripts/traefik.py SIDECAR_SCHEME says why).
        assert labels[f"traefik.http.services.{s.service}.loadbalancer.server.scheme"] == "h2c"
        assert ("oauth-protected-resource" in table[f"{s.service}-prm"]["rule"])
        assert table[f"{s.service}-prm"]["service"] == "authd"
    for name in by_priority[4] + by_priority[3] + by_priority[1]:
        assert table[name]["service"] == "authd"
        assert "mcp-auth@file" not in table[name].get("middlewares", "")


def test_host_routing_uses_one_host_per_server(servers):
    table = routers(all_labels(servers, "host"))
    for s in servers:
        assert table[s.service]["rule"] == f"Host(`mcp-{s.name}.${{BASE_DOMAIN}}`) && Path(`/mcp`)"
    assert table["auth-support"]["rule"] == "Host(`auth.${BASE_DOMAIN}`)"


def test_dynamic_file_defines_the_middlewares_routers_use(servers):
    defined = dynamic_config()["http"]["middlewares"]
    for routing in ROUTINGS:
        used = {m for r in routers(all_labels(servers, routing)).values()
                for m in r.get("middlewares", "").split(",") if m.endswith("@file")}
        assert used == {f"{name}@file" for name in defined}
    auth = defined["mcp-auth"]["forwardAuth"]
    assert auth["address"] == "http://authd:8000/verify"
    assert auth["authResponseHeaders"] == list(AUTH_RESPONSE_HEADERS)
    assert defined["strip-identity"]["headers"]["customRequestHeaders"] == {h: "" for h in IDENTITY_HEADERS}
    # The client's token is dropped after forward-auth (a sidecar never sees it).
    assert defined["strip-authorization"]["headers"]["customRequestHeaders"] == {"Authorization": ""}
    cors = defined["mcp-cors"]["headers"]
    assert cors["accessControlExposeHeaders"] == ["Mcp-Session-Id", "WWW-Authenticate", "MCP-Protocol-Version"]
    assert cors["accessControlAllowOriginList"] == ["*"]
    assert ", ".join(cors["accessControlAllowHeaders"]) == CORS["Access-Control-Allow-Headers"]


def test_no_middleware_lives_on_a_container():
    # Labels vanish with their container: a middleware defined on authd's took every MCP route
    # down (404) while authd restarted. The generated labels define only per-route prefix strips.
    core = load("compose/core.yml")
    labels = core["services"]["authd"]["labels"]
    assert not [k for k in labels if ".middlewares." in k]
    traefik = core["services"]["traefik"]
    assert "--providers.file.filename=/etc/traefik/dynamic.yml" in traefik["command"]
    assert traefik["configs"] == [{"source": "traefik-dynamic", "target": "/etc/traefik/dynamic.yml"}]
    assert core["configs"]["traefik-dynamic"] == {"file": "generated/traefik-dynamic.yml"}


def test_networks_keep_mcp_services_apart_and_away_from_redis(servers):
    core = load("compose/core.yml")
    nets = core["networks"]
    assert nets["store"]["internal"] is True
    assert core["services"]["redis"]["networks"] == ["store"]
    members = {n: [s for s, d in core["services"].items() if n in d.get("networks", [])] for n in nets}
    assert members["store"] == ["authd", "redis"]
    # Traefik joins each MCP service's own network through the generated service it extends.
    assert core["services"]["traefik"]["extends"] == {"file": "generated/edge-networks.yml",
                                                      "service": "edge-networks"}
    docs = render_compose(servers, "path")
    edge = docs["edge-networks.yml"]
    declared = docs["mcp-servers.yml"]["networks"]
    owners: dict[str, list[str]] = {}
    for name, svc in docs["mcp-servers.yml"]["services"].items():
        for net in svc.get("networks", []):
            owners.setdefault(net, []).append(name)
    for s in servers:
        own = f"{s.service}-internal"
        expected = [own] + ([f"{s.service}-egress"] if s.egress else [])
        assert docs["mcp-servers.yml"]["services"][s.service]["networks"] == expected
        assert declared[own]["internal"] is True and own in edge["services"]["edge-networks"]["networks"]
        # compose `include` accepts a network defined in two files only when both are identical.
        assert edge["networks"][own] == declared[own]
        labels = docs["mcp-servers.yml"]["services"][s.service]["labels"]
        assert labels["traefik.docker.network"] == declared[own]["name"]
    assert all(len(names) == 1 for names in owners.values()), owners
    assert not set(owners) & set(nets)


def test_every_service_has_a_healthcheck(servers):
    services = dict(load("compose/core.yml")["services"])
    services.update(render_compose(servers, "path")["mcp-servers.yml"]["services"])
    for name, svc in services.items():
        if svc.get("restart") != "no":  # one-shot services (repository creation) end by design
            assert svc.get("healthcheck", {}).get("test"), name


def test_redis_password_not_in_process_arguments():
    redis = load("compose/core.yml")["services"]["redis"]
    assert "REDIS_PASSWORD" not in json.dumps(redis["command"])
    assert "/run/secrets/redis_password" in redis["command"][-1]
    assert redis["secrets"] == ["redis_password"]


def test_production_pins_what_is_tested():
    # `just setup-docker` builds the CI stand-ins under these exact tags and checks the versions
    # inside; a tag the tests do not run would ship untested.
    services = load("compose/core.yml")["services"]
    assert services["traefik"]["image"] == "traefik:v3.7.15"
    assert services["redis"]["image"] == "redis:7.0.15-bookworm"
    setup = (ROOT / "scripts" / "setup-docker.sh").read_text()
    assert "pinned traefik" in setup and "pinned redis" in setup


def test_overlays_are_valid_compose(validator):
    for path in ("docker-compose.test.yml", "docker-compose.coverage.yml"):
        assert_valid(validator, load(path), path)


def test_root_includes_core_and_generated_servers():
    paths = [i["path"] for i in load("docker-compose.yml")["include"]]
    assert paths == ["compose/core.yml", "compose/generated/mcp-servers.yml"]
