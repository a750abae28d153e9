#!/usr/bin/env python3
"""Kubernetes manifests rendered from the same fragments and settings as compose and Swarm
(`just render-k8s`): one multi-document YAML file to `kubectl apply -f`.

    k8s.py [--out DIR] [--namespace NS] [--traefik-namespace NS]

What it holds, per object kind:
  Namespace, Secret          the gateway's namespace; the secret settings of the settings file
                             (`SECRET_SETTING`), every other setting in a ConfigMap
  Deployment authd           AUTHD_REPLICAS, rolling update that adds a pod before removing one,
                             readiness and liveness from authd's own healthcheck; a
                             PodDisruptionBudget keeps all but one replica through node drains
  StatefulSet redis          one pod, its data on a volume claim, the password from the Secret
                             (never in the process arguments, as in compose)
  Deployment mcp-<name>      one per fragment, replicas from the settings (1 where a data
                             directory is used), confined as in compose (user, read-only root,
                             no capabilities), its own pod IP from the downward API as the
                             address other replicas forward legacy sessions to
  Service                    authd, redis and each MCP server (cluster-internal)
  Middleware, IngressRoute   Traefik's CRDs (traefik.io/v1alpha1): the same middlewares as the
                             dynamic file of compose and Swarm, one IngressRoute per route of the
                             route table (priorities 4/3/2/1)
  NetworkPolicy              the compose segmentation: only Traefik reaches authd and the MCP
                             servers, only authd reaches Redis, servers without egress reach
                             nothing

The file holds the secrets of the settings file: it is written with mode 600 to a git-ignored
directory (default data/k8s/). Exit codes: 0 ok, 64 bad settings or fragments.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import container  # noqa: E402
from envfile import SECRET_SETTING, read_env  # noqa: E402
from fragments import DATA_TARGET, ROOT, FragmentError, Server, authd_env, replica_counts  # noqa: E402
from gateway import selected_servers  # noqa: E402
from routes import Route, routes  # noqa: E402
from traefik import MCP_MIDDLEWARES, SIDECAR_PORT, SIDECAR_SCHEME, compose_services, middlewares, preflight_labels  # noqa: E402
from traefik import traefik_rule  # noqa: E402

EX_USAGE = 64
OWN_IMAGES = "mcp-gateway"
# Secrets the manifests cannot do without (Redis starts with its password, authd signs with its key).
REQUIRED_SECRETS = ("JWT_PRIVATE_KEY", "REDIS_PASSWORD")
AUTHD_PORT = 8000
REDIS_PORT = 6379
# Variables the compose files interpolate: `${NAME}` or `${NAME:-default}`.
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")
RESTRICTED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
              "capabilities": {"drop": ["ALL"]}}


class PlainDumper(yaml.SafeDumper):
    """No `&id001` anchors for objects shared between manifests: every document stands alone."""

    def ignore_aliases(self, data) -> bool:
        return True


def interpolate(value: str, env: dict[str, str]) -> str:
    return INTERPOLATION.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def meta(name: str, ns: str, app: str | None = None) -> dict:
    return {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/name": app or name,
                                                      "app.kubernetes.io/part-of": "mcp-gateway"}}


def selector(app: str) -> dict:
    return {"matchLabels": {"app.kubernetes.io/name": app}}


def exec_probe(healthcheck: dict, initial: int) -> dict:
    """A probe running the image's own healthcheck command (compose's `healthcheck.test`)."""
    return {"exec": {"command": healthcheck["test"][1:]}, "periodSeconds": 10, "timeoutSeconds": 5,
            "failureThreshold": 3, "initialDelaySeconds": initial}


def service(name: str, ns: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, ns),
            "spec": {"selector": {"app.kubernetes.io/name": name},
                     "ports": [{"name": "http" if port != REDIS_PORT else "redis", "port": port,
                                "targetPort": port}]}}


def settings_objects(env: dict[str, str], servers: list[Server], ns: str) -> list[dict]:
    """authd's settings: the settings file plus what the fragments derive (compose's env_file)."""
    merged = {**env, **authd_env(servers), "AUTHD_LISTEN": f"0.0.0.0:{AUTHD_PORT}",
              "REDIS_URL": f"redis://redis:{REDIS_PORT}/0", "LOG_FORMAT": "json"}
    secret = {k: v for k, v in merged.items() if SECRET_SETTING.search(k) and v}
    plain = {k: v for k, v in merged.items() if k not in secret}
    return [{"apiVersion": "v1", "kind": "Secret", "metadata": meta("gateway-secrets", ns), "type": "Opaque",
             "stringData": secret},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("authd-settings", ns), "data": plain}]


def authd_objects(core: dict, ns: str, replicas: int) -> list[dict]:
    svc = core["services"]["authd"]
    pod = {"metadata": {"labels": meta("authd", ns)["labels"]}, "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001},
        "containers": [{
            "name": "authd", "image": svc["image"], "ports": [{"containerPort": AUTHD_PORT}],
            "envFrom": [{"configMapRef": {"name": "authd-settings"}}, {"secretRef": {"name": "gateway-secrets"}}],
            "readinessProbe": exec_probe(svc["healthcheck"], 2),
            "livenessProbe": exec_probe(svc["healthcheck"], 10),
            "securityContext": RESTRICTED}]}}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("authd", ns), "spec": {
            "replicas": replicas, "selector": selector("authd"), "template": pod,
            # A new pod is ready before an old one goes (Swarm's start-first).
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("authd", ns),
         "spec": {"maxUnavailable": 1, "selector": selector("authd")}},
        service("authd", ns, AUTHD_PORT),
    ]


def redis_objects(core: dict, ns: str) -> list[dict]:
    """Redis as compose runs it (same image and command: the password read from the secret file)."""
    svc = core["services"]["redis"]
    command = [c.replace("$$", "$") for c in svc["command"]]
    pod = {"metadata": {"labels": meta("redis", ns)["labels"]}, "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 999, "runAsGroup": 999, "fsGroup": 999},
        "containers": [{
            "name": "redis", "image": svc["image"], "command": command, "ports": [{"containerPort": REDIS_PORT}],
            "readinessProbe": {"exec": {"command": ["sh", "-c", svc["healthcheck"]["test"][1].replace("$$", "$")]},
                               "periodSeconds": 10},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"},
                             {"name": "password", "mountPath": "/run/secrets", "readOnly": True}],
            "securityContext": RESTRICTED}],
        "volumes": [{"name": "tmp", "emptyDir": {}},
                    {"name": "password", "secret": {"secretName": "gateway-secrets",
                                                    "items": [{"key": "REDIS_PASSWORD", "path": "redis_password"}]}}]}}
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                     "resources": {"requests": {"storage": "1Gi"}}}}
    return [{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("redis", ns), "spec": {
        "serviceName": "redis", "replicas": 1, "selector": selector("redis"), "template": pod,
        "volumeClaimTemplates": [claim]}}, service("redis", ns, REDIS_PORT)]


def mcp_objects(server: Server, table: list[Route], routing: str, env: dict[str, str], ns: str,
                replicas: int) -> list[dict]:
    """One MCP server: its compose service (command, settings, healthcheck) as a Deployment."""
    composed = compose_services(server, [r for r in table if r.target == server.service], routing)
    svc = composed[server.service]
    settings = []
    for k, v in svc["environment"].items():
        if SECRET_SETTING.search(k) and env.get(k):  # from the Secret, never in the manifest's pod spec
            settings.append({"name": k, "valueFrom": {"secretKeyRef": {"name": "gateway-secrets", "key": k}}})
        elif v is not None or env.get(k):
            settings.append({"name": k, "value": interpolate(v, env) if v is not None else env[k]})
    # The pod's own address: where another replica forwards a legacy session this one owns.
    settings += [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "SIDECAR_ADVERTISE_URL", "value": f"http://$(POD_IP):{SIDECAR_PORT}"}]
    uid, gid = (int(x) for x in container.RUNTIME_USERS[server.runtime].split(":"))
    mounts, volumes = [{"name": "tmp", "mountPath": "/tmp"}], [{"name": "tmp", "emptyDir": {}}]
    if server.data:
        mounts.append({"name": "data", "mountPath": DATA_TARGET})
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": container.data_volume(server)}})
    for i, v in enumerate(server.volumes):
        mounts.append({"name": f"volume-{i}", "mountPath": v.target, "readOnly": v.read_only})
        volumes.append({"name": f"volume-{i}", "hostPath": {"path": v.source, "type": "Directory"}})
    spec: dict = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "fsGroup": gid},
        "containers": [{"name": "sidecar", "image": svc["image"], "args": svc["command"],
                        "ports": [{"containerPort": SIDECAR_PORT}], "env": settings,
                        "readinessProbe": exec_probe(svc["healthcheck"], 5),
                        "livenessProbe": {**exec_probe(svc["healthcheck"], 120), "failureThreshold": 6},
                        "volumeMounts": mounts, "securityContext": RESTRICTED}],
        "volumes": volumes}
    for name, init in composed.items():
        if name != server.service:  # the repository init one-shot: an init container here
            spec["initContainers"] = [{"name": "init", "image": init["image"], "command": init["entrypoint"],
                                       "args": init["command"], "volumeMounts": mounts,
                                       "securityContext": RESTRICTED}]
    objects = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(server.service, ns), "spec": {
        "replicas": replicas, "selector": selector(server.service),
        # One writer of the data directory at a time: the old pod goes before the new one starts.
        "strategy": {"type": "Recreate"} if server.data else {"type": "RollingUpdate"},
        "template": {"metadata": {"labels": meta(server.service, ns)["labels"]}, "spec": spec}}},
        service(server.service, ns, SIDECAR_PORT)]
    if server.data:
        objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": meta(container.data_volume(server), ns, server.service),
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    return objects


def traefik_objects(servers: list[Server], table: list[Route], env: dict[str, str], ns: str) -> list[dict]:
    """Middlewares (the dynamic file's, forward-auth to authd's cluster name) and IngressRoutes."""
    verify = f"http://authd.{ns}.svc.cluster.local:{AUTHD_PORT}/verify"
    objects = [{"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": meta(name, ns, "traefik"),
                "spec": spec} for name, spec in middlewares(verify).items()]
    ports = {"authd": AUTHD_PORT, **{s.service: SIDECAR_PORT for s in servers}}
    for route in table:
        used = MCP_MIDDLEWARES if route.forward_auth else ()
        chain = [{"name": m.split("@")[0], "namespace": ns} for m in used]
        if route.strip_prefix:
            objects.append({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                            "metadata": meta(f"{route.id}-strip", ns, "traefik"),
                            "spec": {"stripPrefix": {"prefixes": [route.strip_prefix]}}})
            chain.append({"name": f"{route.id}-strip", "namespace": ns})
        rules = [(route.id, traefik_rule(route), route.priority, route.target, chain)]
        if route.forward_auth:
            labels = preflight_labels(route)
            rules.append((f"{route.id}-preflight", labels[f"traefik.http.routers.{route.id}-preflight.rule"],
                          int(labels[f"traefik.http.routers.{route.id}-preflight.priority"]), "authd", []))
        for name, rule, priority, target, mws in rules:
            service = {"name": target, "port": ports[target]}
            if target != "authd":
                service["scheme"] = SIDECAR_SCHEME
            entry = {"match": interpolate(rule, env), "kind": "Rule", "priority": priority,
                     "services": [service]}
            if mws:
                entry["middlewares"] = mws
            objects.append({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
                            "metadata": meta(name, ns, "traefik"),
                            "spec": {"entryPoints": ["websecure"], "routes": [entry],
                                     "tls": {"certResolver": "letsencrypt"}}})
    return objects


def policy(name: str, ns: str, app: str, ingress: list[dict] | None, egress: list[dict] | None) -> dict:
    """A NetworkPolicy for the pods of `app`; a `None` direction is left open, `[]` denies all."""
    spec: dict = {"podSelector": selector(app), "policyTypes": []}
    for direction, rules in (("Ingress", ingress), ("Egress", egress)):
        if rules is not None:
            spec["policyTypes"].append(direction)
            spec[direction.lower()] = rules
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(name, ns, app),
            "spec": spec}


def network_policies(servers: list[Server], ns: str, traefik_ns: str) -> list[dict]:
    """compose's networks as policies: `edge` (Traefik -> authd), `store` (authd -> Redis only),
    one network per MCP server that only Traefik shares, egress only where a fragment grants it."""
    traefik = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": traefik_ns}}}
    authd = {"podSelector": selector("authd")}
    objects = [
        policy("authd", ns, "authd", [{"from": [traefik], "ports": [{"port": AUTHD_PORT}]}], None),
        policy("redis", ns, "redis", [{"from": [authd], "ports": [{"port": REDIS_PORT}]}], []),
    ]
    for s in servers:
        egress = None if s.egress else []
        objects.append(policy(s.service, ns, s.service, [{"from": [traefik], "ports": [{"port": SIDECAR_PORT}]}],
                              egress))
    return objects


def pull_from(objects: list[dict], registry: str) -> None:
    """The gateway's own images (`mcp-gateway/...`, built by `just up`) named in `registry`, where
    the cluster pulls them from (pushed there by the operator); public images stay as they are."""
    for o in objects:
        pod = o.get("spec", {}).get("template", {}).get("spec", {})
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            if registry and c["image"].startswith(f"{OWN_IMAGES}/"):
                c["image"] = f"{registry.rstrip('/')}/{c['image']}"


def render(env: dict[str, str], servers: list[Server], ns: str, traefik_ns: str, registry: str = "") -> list[dict]:
    missing = [k for k in REQUIRED_SECRETS if not env.get(k)]
    if missing:
        raise FragmentError(f"{', '.join(missing)}: empty in the settings file; the manifests need "
                            "them (`just up` generates both, `just generate-jwt-secret` the key)")
    routing = env.get("ROUTING", "path")
    table = routes(servers, routing)
    core = yaml.safe_load((ROOT / "compose" / "core.yml").read_text())
    counts = replica_counts(servers, env)
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
    objects += settings_objects(env, servers, ns)
    objects += authd_objects(core, ns, counts.authd)
    objects += redis_objects(core, ns)
    for s in servers:
        objects += mcp_objects(s, table, routing, env, ns, counts.of(s))
    objects += traefik_objects(servers, table, env, ns)
    objects += network_policies(servers, ns, traefik_ns)
    pull_from(objects, registry)
    return objects


def write(objects: list[dict], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "gateway.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Generated by scripts/k8s.py (`just render-k8s`) from compose/mcp-*.yml and the "
                "settings file: do not edit. Holds secrets.\n")
        yaml.dump_all(objects, f, Dumper=PlainDumper, sort_keys=False, width=200)
    path.chmod(0o600)
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="k8s.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "k8s")
    parser.add_argument("--namespace", default="mcp-gateway")
    parser.add_argument("--traefik-namespace", default="traefik", help="where Traefik runs")
    parser.add_argument("--registry", default="", help="registry the cluster pulls the gateway's images from")
    args = parser.parse_args(argv)
    env_file = Path(os.environ.get("GATEWAY_ENV_FILE") or ROOT / ".env")
    try:
        if not env_file.exists():
            raise FragmentError(f"no settings file {env_file} (`cp .env.example .env`, then edit it)")
        env = read_env(env_file)
        servers = selected_servers(env.get("MCP_SERVICES", ""))
        path = write(render(env, servers, args.namespace, args.traefik_namespace, args.registry), args.out)
    except FragmentError as err:
        print(f"k8s.py: {err}", file=sys.stderr)
        return EX_USAGE
    print(f"k8s.py: wrote {path} (`kubectl apply -f {path}`)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
