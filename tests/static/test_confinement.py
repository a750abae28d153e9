"""The confinement model rendered for both modes: every generated compose service and every native
sandbox command line grants exactly what its fragment says (data, volumes, egress) and nothing
else. The bundled fragments are checked, plus one that uses every grant. What the sandbox does at
run time is shown end to end in tests/e2e/test_confinement.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import confine
from conftest import ROOT
from container import RUNTIME_USERS
from fragments import Server, Volume, parse_fragment
from install import NODE_HOME, install_dir, python_home
from stack import SECRET_RE
from traefik import render_compose

# Keys that would widen a container beyond its grant.
WIDENING = ("privileged", "cap_add", "devices", "pid", "ipc", "userns_mode", "volumes_from",
            "env_file", "extra_hosts", "sysctls")


@pytest.fixture(scope="module")
def every_grant(tmp_path_factory) -> Server:
    """A fragment using every grant: data, a read-only and a read-write volume, egress, a
    repository in the data directory."""
    path = tmp_path_factory.mktemp("fragments") / "mcp-granted.yml"
    path.write_text("x-mcp:\n  name: granted\n  runtime: python\n  package: mcp-server-git\n"
                    "  version: '2026.10.19'\n  command: [mcp-server-git]\n  data: true\n  egress: true\n"
                    "  volumes: ['/srv/docs:/srv/docs:ro', '/srv/work:/srv/work']\n"
                    "  repositories: [repo]\n  env: {NOTES: '{data}/notes'}\n")
    return parse_fragment(path)


@pytest.fixture(scope="module")
def all_servers(servers, every_grant) -> list[Server]:
    return [*servers, every_grant]


def owner(name: str, servers: list[Server]) -> Server:
    """The fragment a generated service belongs to (`mcp-<name>` or its `-init` one-shot)."""
    return next(s for s in servers if name in (s.service, f"{s.service}-init"))


@pytest.mark.parametrize("routing", ["path", "host"])
def test_every_generated_mcp_container_is_confined(all_servers, routing):
    services = render_compose(all_servers, routing)["mcp-servers.yml"]["services"]
    assert {owner(n, all_servers).name for n in services} == {s.name for s in all_servers}
    for name, svc in services.items():
        server = owner(name, all_servers)
        uid, gid = svc["user"].split(":")
        assert int(uid) > 0 and int(gid) > 0, name
        assert svc["read_only"] is True and svc["tmpfs"] == ["/tmp"], name
        assert svc["cap_drop"] == ["ALL"], name
        assert svc["security_opt"] == ["no-new-privileges:true"], name
        assert not set(WIDENING) & set(svc), name
        allowed_volumes = {f"{server.service}-data:/data"} if server.data else set()
        allowed_volumes |= {v.compose() for v in server.volumes}
        assert set(svc.get("volumes", [])) <= allowed_volumes, name
        if name == server.service:
            nets = {f"{server.service}-internal"} | ({f"{server.service}-egress"} if server.egress else set())
            assert set(svc["networks"]) == nets and "network_mode" not in svc, name
            assert set(svc.get("volumes", [])) == allowed_volumes, name
        else:  # the one-shot that creates repositories needs no network at all
            assert svc["network_mode"] == "none" and "networks" not in svc, name
        assert not [k for k in svc.get("environment", {}) if SECRET_RE.search(k)], name


def test_repositories_are_created_before_the_server_starts(every_grant):
    services = render_compose([every_grant], "path")["mcp-servers.yml"]["services"]
    init = services["mcp-granted-init"]
    assert init["entrypoint"] + init["command"] == ["git", "init", "--quiet", "/data/repo"]
    assert init["image"] == services["mcp-granted"]["image"]
    assert services["mcp-granted"]["depends_on"] == {
        "mcp-granted-init": {"condition": "service_completed_successfully"}}
    assert services["mcp-granted"]["command"][-2:] == ["--repository", "/data/repo"]


def test_runtime_users_are_the_images_users():
    dockerfile = (ROOT / "images" / "Dockerfile").read_text()
    stages = dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", dockerfile, re.M | re.S))
    users = {stage: re.findall(r"^USER (\S+)", body, re.M) for stage, body in stages.items()}
    assert users["mcp-python"] == [RUNTIME_USERS["python"].split(":")[0]]
    # The official node image's `node` user is uid/gid 1000.
    assert users["mcp-node"] == ["node"] and RUNTIME_USERS["node"] == "1000:1000"


def mounts(argv: list[str]) -> list[tuple[str, str, str]]:
    """(option, source, target) of every bind in a bwrap command line."""
    out = []
    for i, arg in enumerate(argv[:argv.index("--")]):
        if arg in ("--bind", "--ro-bind"):
            out.append((arg, argv[i + 1], argv[i + 2]))
    return out


def setenv(argv: list[str]) -> dict[str, str]:
    head = argv[:argv.index("--")]
    return {head[i + 1]: head[i + 2] for i, a in enumerate(head) if a == "--setenv"}


def test_sandbox_binds_only_the_grant(all_servers, tmp_path):
    data_root = tmp_path / "data"
    for server in all_servers:
        host_data = data_root / "mcp" / server.name
        argv = confine.bwrap_argv(server, host_data, (ROOT, data_root))
        head = argv[:argv.index("--")]
        system = {"/usr", *confine.TOP_LEVEL, *confine.ETC_FILES, "/usr/bin/false"}
        system |= set(confine.ETC_NETWORK) if server.egress else set()
        interpreter = NODE_HOME if server.runtime == "node" else python_home(server)
        runtime = {str(install_dir(server)), str(interpreter)}
        writable = {str(host_data)} if server.data else set()
        writable |= {v.source for v in server.volumes if not v.read_only}
        readable = {v.source for v in server.volumes if v.read_only}
        for option, source, target in mounts(argv):
            if option == "--bind":
                assert source in writable, (server.name, source)
            else:
                assert source in system | runtime | readable, (server.name, source)
            assert source not in (str(ROOT), str(data_root)), (server.name, source)
        bound = {source for _, source, _ in mounts(argv)}
        assert writable <= bound and readable <= bound, server.name
        assert ("--share-net" in head) == server.egress, server.name
        for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--clearenv"):
            assert flag in head, (server.name, flag)
        assert head[head.index("--cap-drop") + 1] == "ALL"
        basics = {"PATH", "HOME", "TMPDIR", "LANG", "USER", "LOGNAME"}
        assert set(setenv(argv)) == basics | {k for k, _ in server.env}, server.name
        command, args = argv[argv.index("--") + 1:], server.argv("/data")[1:]
        assert command[len(command) - len(args):] == args, server.name


def test_sandbox_masks_a_project_inside_a_system_directory():
    server = Server("t", "node", "@modelcontextprotocol/server-memory", "2026.8.31", ("mcp-server-memory",))
    argv = confine.bwrap_argv(server, None, (Path("/usr/local/gateway"), Path("/srv/gateway/data")))
    head = argv[:argv.index("--")]
    assert ("--tmpfs", "/usr/local/gateway") in zip(head, head[1:])
    assert "/srv/gateway/data" not in head


def test_sandbox_setting_is_checked(every_grant, servers):
    assert confine.check("nsjail", servers) == ["MCP_SANDBOX must be one of bubblewrap, off (got 'nsjail')"]
    assert confine.check("off", servers) == []
    assert confine.check("off", [every_grant]) == [
        "MCP_SANDBOX=off: mcp-granted mounts volumes, which exist only in the sandbox"]
    missing = confine.check("bubblewrap", [every_grant])
    assert missing == ["mcp-granted: volume source /srv/docs does not exist",
                       "mcp-granted: volume source /srv/work does not exist"]
    assert confine.check("bubblewrap", servers) == []


def test_volume_targets_live_outside_what_the_sandbox_provides():
    assert Volume.parse("/srv/a:/srv/a:ro") == Volume("/srv/a", "/srv/a", True)
    for bad in ("/srv/a:/data/x", "/srv/a:/usr/local", "relative:/srv/a", "/srv/a:/srv/../etc",
                "/srv/a:/", "/srv/a:/opt", "/srv/$HOME:/srv/a", "/srv/a:/srv/b:rx", "/srv/a"):
        assert isinstance(Volume.parse(bad), str), bad
