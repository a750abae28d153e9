"""The fragments: valid, complete, pinned to the versions the project installs."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from envfile import read_env
from fragments import FragmentError, new_fragment, parse_fragment, replica_counts

BUNDLED = {"fetch", "filesystem", "memory", "time", "git", "everything", "sequential-thinking"}


def test_every_bundled_server_has_a_fragment(servers):
    assert {s.name for s in servers} == BUNDLED


def test_versions_are_pinned_like_the_installs(servers):
    npm = json.loads((ROOT / "tests" / "package.json").read_text())["dependencies"]
    pypi = dict(line.split("==") for line in (ROOT / "tests" / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for s in servers:
        pinned = npm.get(s.package) if s.runtime == "node" else pypi.get(s.package)
        assert pinned == s.version, (s.name, s.version, pinned)


def test_fragments_are_small(servers):
    for s in servers:
        lines = (ROOT / "compose" / f"{s.service}.yml").read_text().splitlines()
        assert len(lines) <= 20, s.service


def test_bad_fragment_names_every_problem(tmp_path):
    path = tmp_path / "mcp-bad.yml"
    path.write_text("x-mcp:\n  name: Bad Name\n  runtime: ruby\n  command: mcp\n  colour: blue\n")
    with pytest.raises(FragmentError) as err:
        parse_fragment(path)
    message = str(err.value)
    for problem in ("name", "runtime", "package", "version", "command", "unknown keys: colour"):
        assert problem in message


def test_new_server_writes_a_parsable_fragment_and_never_overwrites(tmp_path):
    path = new_fragment("weather", "python", "mcp-weather", "1.2.3", ["mcp-weather"], compose_dir=tmp_path)
    server = parse_fragment(path)
    assert (server.name, server.package, server.version, server.command) == \
        ("weather", "mcp-weather", "1.2.3", ("mcp-weather",))
    with pytest.raises(FragmentError):
        new_fragment("weather", "python", "mcp-weather", "1.2.3", ["mcp-weather"], compose_dir=tmp_path)


def fragment(tmp_path, body: str):
    path = tmp_path / "mcp-tt.yml"
    path.write_text("x-mcp:\n  name: tt\n  runtime: python\n  package: p\n  version: '1'\n" + body)
    return parse_fragment(path)


def test_git_is_given_its_repository_not_the_machine(servers):
    git = next(s for s in servers if s.name == "git")
    assert git.data and git.repositories == ("repo",)
    assert git.argv("/data") == ["mcp-server-git", "--repository", "/data/repo"]


@pytest.mark.parametrize(("body", "problem"), [
    ("  command: [x, '{data}']\n", "must grant `data: true`"),
    ("  command: [x]\n  env: {F: '{data}/f'}\n", "must grant `data: true`"),
    ("  command: [x]\n  data: 'yes'\n", "data must be true or false"),
    ("  command: [x]\n  egress: 1\n", "egress must be true or false"),
    ("  command: [x]\n  volumes: ['/srv/a:/etc/a']\n", "must not overlap"),
    ("  command: [x]\n  volumes: [data:/srv/a]\n", "plain absolute paths"),
    ("  command: [x]\n  repositories: [repo]\n", "grant `data: true`"),
    ("  command: [x]\n  data: true\n  repositories: [a, b]\n", "at most 1 repository"),
    ("  command: [x]\n  data: true\n  repositories: ['../up']\n", "plain path below the data directory"),
    ("  command: [x]\n  volumes: ['/srv/r:/srv/r:ro']\n  repositories: [/srv/r]\n", "read-write volume"),
    ("  command: [x]\n  repositories: [/srv/elsewhere]\n", "read-write volume"),
])
def test_grants_are_checked(tmp_path, body, problem):
    with pytest.raises(FragmentError) as err:
        fragment(tmp_path, body)
    assert problem in str(err.value)


def test_a_repository_in_a_volume(tmp_path):
    server = fragment(tmp_path, "  command: [x]\n  volumes: ['/srv/git/app:/srv/app']\n"
                                "  repositories: [/srv/app]\n")
    assert server.argv("/data") == ["x", "--repository", "/srv/app"]
    assert [v.compose() for v in server.volumes] == ["/srv/git/app:/srv/app:rw"]


def counts(servers, **env):
    return dict(replica_counts(servers, env, known=servers).mcp)


def test_replicas_default_to_one_and_follow_the_env(servers):
    assert set(counts(servers).values()) == {1}
    assert replica_counts(servers, {}).authd == 1
    resolved = replica_counts(servers, {"AUTHD_REPLICAS": "3", "MCP_REPLICAS": "2",
                                        "MCP_REPLICAS_SEQUENTIAL_THINKING": "4"})
    assert resolved.authd == 3
    mcp = dict(resolved.mcp)
    assert mcp["fetch"] == mcp["time"] == mcp["everything"] == 2
    assert mcp["sequential-thinking"] == 4  # NAME upper-cased, `-` written `_`
    # The default never raises a server with a data directory above one.
    assert mcp["filesystem"] == mcp["git"] == mcp["memory"] == 1
    # Blank is the default, as everywhere in .env.
    assert counts(servers, MCP_REPLICAS="") == counts(servers)


def test_replica_problems_are_listed_together(servers):
    with pytest.raises(FragmentError) as err:
        replica_counts(servers, {"AUTHD_REPLICAS": "0", "MCP_REPLICAS": "two", "MCP_REPLICAS_FETCH": "65",
                                 "MCP_REPLICAS_MEMORY": "2", "MCP_REPLICAS_WEATHER": "2"})
    message = str(err.value)
    for problem in ("AUTHD_REPLICAS: expected a whole number from 1 to 64, not '0'",
                    "MCP_REPLICAS: expected a whole number from 1 to 64, not 'two'",
                    "MCP_REPLICAS_FETCH: expected", "MCP_REPLICAS_MEMORY=2: memory writes a data directory",
                    "MCP_REPLICAS_WEATHER: no MCP server is named 'WEATHER'"):
        assert problem in message
    assert len(message.splitlines()) == 5


@pytest.mark.parametrize("name", ["filesystem", "git", "memory"])
def test_a_data_directory_pins_a_server_to_one_replica(servers, name):
    key = f"MCP_REPLICAS_{name.upper()}"
    assert counts(servers, **{key: "1"})[name] == 1
    with pytest.raises(FragmentError, match=f"{key}=2: {name} writes a data directory"):
        counts(servers, **{key: "2"})


def test_shared_data_lifts_the_pin(tmp_path):
    shared = fragment(tmp_path, "  command: [x, '{data}']\n  data: true\n  shared_data: true\n")
    assert dict(replica_counts([shared], {"MCP_REPLICAS_TT": "3"}, known=[shared]).mcp) == {"tt": 3}
    assert dict(replica_counts([shared], {"MCP_REPLICAS": "2"}, known=[shared]).mcp) == {"tt": 2}
    with pytest.raises(FragmentError, match="grant `data: true`"):
        fragment(tmp_path, "  command: [x]\n  shared_data: true\n")


def test_a_per_service_count_for_an_unselected_server_is_no_error(servers):
    # MCP_SERVICES=time with MCP_REPLICAS_FETCH set: fetch exists, it is merely not served.
    time = [s for s in servers if s.name == "time"]
    assert dict(replica_counts(time, {"MCP_REPLICAS_FETCH": "2"}, known=servers).mcp) == {"time": 1}


def test_replica_variables_are_documented():
    documented = read_env(ROOT / ".env.example")
    assert documented["AUTHD_REPLICAS"] == "1" and documented["MCP_REPLICAS"] == "1"
    example = (ROOT / ".env.example").read_text()
    assert "MCP_REPLICAS_<NAME>" in example and "shared_data: true" in example
    reference = (ROOT / "docs" / "api" / "configuration.md").read_text()
    for key in ("AUTHD_REPLICAS", "MCP_REPLICAS", "MCP_REPLICAS_<NAME>"):
        assert f"| `{key}` |" in reference, key
