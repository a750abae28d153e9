"""Kubernetes manifests (scripts/k8s.py): every core object valid against the Kubernetes schemas
(kubernetes-validate, strict: unknown fields are errors), Traefik's objects consistent with the
route table, and the compose segmentation, replica pinning and downward API in place."""

from __future__ import annotations

import copy
import subprocess

import kubernetes_validate
import pytest

from conftest import ROOT
from fragments import FragmentError
from envfile import SECRET_SETTING
from k8s import render, write
from routes import routes
from traefik import MCP_MIDDLEWARES, middlewares

K8S_VERSION = "1.37.0"
NS = "gw"
ENV = {"ROUTING": "path", "BASE_DOMAIN": "gw.example", "PUBLIC_URL": "https://gw.example",
       "AUTHD_REPLICAS": "3", "MCP_REPLICAS": "2", "MCP_REPLICAS_TIME": "4",
       "JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----x", "REDIS_PASSWORD": "pw",
       "SIDECAR_REQUEST_STATE_KEY": "k" * 43, "SIDECAR_SESSION_KEY": "s" * 43, "LOG_LEVEL": "debug",
       "REDIS_SENTINELS": "10.0.0.11:26379", "REDIS_SENTINEL_MASTER": "authd", "REDIS_SENTINEL_PASSWORD": "spw"}


@pytest.fixture(scope="module", params=["path", "host"])
def objects(request, servers):
    return render(ENV | {"ROUTING": request.param}, servers, NS, "traefik")


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def core(objects):
    return [o for o in objects if not o["apiVersion"].startswith("traefik.io/")]


def test_every_core_object_is_valid(objects):
    for o in core(objects):
        kubernetes_validate.validate(o, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_broken_object(objects):
    deployment = copy.deepcopy(by_kind(objects, "Deployment")["authd"])
    deployment["spec"]["replicas"] = "three"
    deployment["spec"]["template"]["spec"]["containers"][0]["colour"] = "blue"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_replicas_from_the_settings_and_pinned_with_a_data_directory(objects, servers):
    deployments = by_kind(objects, "Deployment")
    assert deployments["authd"]["spec"]["replicas"] == 3
    for s in servers:
        expected = 1 if s.data else 4 if s.name == "time" else 2
        assert deployments[s.service]["spec"]["replicas"] == expected, s.name
        if s.data:
            # One writer of the data directory: the old pod goes before the new one starts.
            assert deployments[s.service]["spec"]["strategy"] == {"type": "Recreate"}


def test_authd_readiness_rolling_update_and_disruption_budget(objects):
    authd = by_kind(objects, "Deployment")["authd"]
    container = authd["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["exec"]["command"] == ["authd", "healthcheck", "--url",
                                                              "http://127.0.0.1:8000/health"]
    assert authd["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pdb = by_kind(objects, "PodDisruptionBudget")["authd"]
    assert pdb["spec"]["selector"] == authd["spec"]["selector"]


def test_secrets_only_in_the_secret(objects):
    secret = by_kind(objects, "Secret")["gateway-secrets"]["stringData"]
    assert {"JWT_PRIVATE_KEY", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "SIDECAR_REQUEST_STATE_KEY",
            "SIDECAR_SESSION_KEY"} <= set(secret)
    plain = by_kind(objects, "ConfigMap")["authd-settings"]["data"]
    assert not [k for k in plain if SECRET_SETTING.search(k)]
    for d in by_kind(objects, "Deployment").values():
        for c in d["spec"]["template"]["spec"]["containers"]:
            for e in c.get("env", []):
                assert "value" not in e or not SECRET_SETTING.search(e["name"]), e["name"]


def test_each_sidecar_advertises_its_pod_address(objects, servers):
    for s in servers:
        env = {e["name"]: e for e in by_kind(objects, "Deployment")[s.service]["spec"]["template"]["spec"]
               ["containers"][0]["env"]}
        assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
        assert env["SIDECAR_ADVERTISE_URL"]["value"] == "http://$(POD_IP):3000"
        for key in ("SIDECAR_REQUEST_STATE_KEY", "SIDECAR_SESSION_KEY"):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "gateway-secrets", "key": key}
        assert env["LOG_LEVEL"]["value"] == "debug"  # compose's `${LOG_LEVEL:-info}`, from the settings


def test_traefik_objects_follow_the_route_table(objects, servers):
    routing = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["ROUTING"]
    table = routes(servers, routing)
    ingress = by_kind(objects, "IngressRoute")
    assert {r.id for r in table} | {f"{r.id}-preflight" for r in table if r.forward_auth} == set(ingress)
    defined = by_kind(objects, "Middleware")
    for name, spec in middlewares(f"http://authd.{NS}.svc.cluster.local:8000/verify").items():
        assert defined[name]["spec"] == spec
    for route in table:
        entry = ingress[route.id]["spec"]["routes"][0]
        assert "${" not in entry["match"] and entry["priority"] == route.priority
        assert entry["services"][0]["name"] == route.target
        # Sidecars over cleartext HTTP/2, as in compose (scripts/traefik.py SIDECAR_SCHEME).
        assert entry["services"][0].get("scheme") == (None if route.target == "authd" else "h2c")
        names = [m["name"] for m in entry.get("middlewares", [])]
        expected = [m.split("@")[0] for m in MCP_MIDDLEWARES] if route.forward_auth else []
        assert names[:len(expected)] == expected
        for name in names:
            assert name in defined, name


def test_network_policies_match_the_compose_segmentation(objects, servers):
    policies = by_kind(objects, "NetworkPolicy")
    redis = policies["redis"]["spec"]
    assert redis["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "authd"}}}],
                                 "ports": [{"port": 6379}]}]
    assert redis["egress"] == []
    traefik = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}
    assert policies["authd"]["spec"]["ingress"][0]["from"] == [traefik]
    for s in servers:
        spec = policies[s.service]["spec"]
        assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": s.service}}
        assert spec["ingress"] == [{"from": [traefik], "ports": [{"port": 3000}]}]
        # Without egress a server reaches nothing (compose: an internal network of its own).
        assert ("Egress" in spec["policyTypes"]) == (not s.egress), s.name


def test_own_images_from_the_registry_given(servers):
    objects = render(ENV, servers, NS, "traefik", "registry.example:5000/team")
    images = {c["image"] for d in by_kind(objects, "Deployment").values()
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert "registry.example:5000/team/mcp-gateway/authd:latest" in images
    assert all(i.startswith("registry.example:5000/team/mcp-gateway/") for i in images)
    redis = by_kind(objects, "StatefulSet")["redis"]["spec"]["template"]["spec"]["containers"][0]
    assert redis["image"] == "redis:7.0.15-bookworm"  # public images stay as they are


def test_settings_without_the_secrets_are_refused(servers, tmp_path):
    with pytest.raises(FragmentError, match="JWT_PRIVATE_KEY, REDIS_PASSWORD"):
        render(ENV | {"JWT_PRIVATE_KEY": "", "REDIS_PASSWORD": ""}, servers, NS, "traefik")
    env_file = tmp_path / ".env"
    env_file.write_text("ROUTING=path\nBASE_DOMAIN=gw.example\n")
    run = subprocess.run(["python3", str(ROOT / "scripts" / "k8s.py"), "--out", str(tmp_path / "out")],
                         env={"PATH": "/usr/bin:/bin", "GATEWAY_ENV_FILE": str(env_file)},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 64 and "JWT_PRIVATE_KEY, REDIS_PASSWORD" in run.stderr
    assert not (tmp_path / "out").exists()


def test_the_written_file_is_private(servers, tmp_path):
    path = write(render(ENV, servers, NS, "traefik"), tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
