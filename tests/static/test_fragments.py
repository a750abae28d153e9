"""The fragments: valid, complete, pinned to the versions the project installs."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from fragments import FragmentError, new_fragment, parse_fragment

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
