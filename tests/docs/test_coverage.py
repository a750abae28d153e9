"""The documentation covers what the project offers, read from the sources themselves (never from a
hand-kept list): every variable of `.env.example`, every just recipe (`just --summary`), every route
of authd's and the sidecar's routers, every subcommand of both binaries (their `--help`). It names
no file that is not in the repository, the tests its security page cites exist, and the
documentation build's own packages are pinned like the test packages."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BIN = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"


def pages() -> dict[Path, str]:
    return {p: p.read_text() for p in sorted(DOCS.rglob("*.md")) if "_build" not in p.parts}


@pytest.fixture(scope="module")
def text() -> str:
    # One string, whitespace normalised, so a name broken over two lines still counts.
    return re.sub(r"\s+", " ", "\n".join(pages().values()))


def missing(names, text: str) -> list[str]:
    return sorted(n for n in set(names) if n not in text)


def test_every_env_example_variable_is_documented(text):
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    assert len(names) > 40
    assert not missing(names, text)


def test_every_just_recipe_is_documented(text):
    recipes = subprocess.run(["just", "--summary"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert "run" in recipes and "docs" in recipes
    assert not missing([f"just {r}" for r in recipes], text)


def reference_section(word: str) -> str:
    """The `## ...` section of the endpoint reference whose heading names `word`."""
    page = (DOCS / "api" / "endpoints.md").read_text()
    sections = re.split(r"^## ", page, flags=re.M)
    return next(s for s in sections if word in s.splitlines()[0])


def test_every_authd_route_is_in_the_endpoint_reference():
    source = (ROOT / "authd" / "src" / "router.rs").read_text()
    routes = [re.sub(r"/\{\*\w+\}$", "", r) for r in re.findall(r'\.route\(\s*"([^"]+)"', source)]
    assert "/token" in routes and "/" in routes
    section = reference_section("authd")
    assert not missing([f"`{r}`" for r in routes], section)


def test_every_sidecar_route_is_in_the_endpoint_reference():
    source = (ROOT / "sidecar" / "src" / "http" / "route.rs").read_text()
    routes = set(re.findall(r'"(/[a-z][a-z0-9/_-]*)"', source))
    mcp_path = re.search(r'env = "SIDECAR_MCP_PATH", default_value = "([^"]+)"',
                         (ROOT / "sidecar" / "src" / "config" / "args.rs").read_text())
    routes.add(mcp_path.group(1) if mcp_path else "/mcp")
    assert {"/health", "/metrics", "/mcp"} <= routes
    assert not missing([f"`{r}`" for r in routes], reference_section("sidecar"))


def subcommands(binary: Path, path: tuple[str, ...] = ()) -> list[str]:
    """Every subcommand path of a clap binary, from its `--help` output, recursively."""
    out = subprocess.run([str(binary), *path, "--help"], capture_output=True, text=True,
                         timeout=60, env={"PATH": os.environ["PATH"]}, cwd="/").stdout
    found = []
    if "Commands:" in out:
        block = out.split("Commands:", 1)[1].split("\n\n", 1)[0]
        for line in block.splitlines():
            name = line.split()[0] if line.strip() else ""
            if name and name != "help":
                found.append(" ".join([binary.name, *path, name]))
                found += subcommands(binary, (*path, name))
    return found


@pytest.mark.parametrize("binary", ["authd", "sidecar"])
def test_every_cli_subcommand_is_documented(text, binary):
    commands = subcommands(BIN / binary)
    assert f"{binary} healthcheck" in commands
    assert not missing(commands, text)


def test_every_page_is_in_the_table_of_contents():
    toc = yaml.safe_load((DOCS / "_toc.yml").read_text())
    listed = {toc["root"]} | {c["file"] for part in toc["parts"] for c in part["chapters"]}
    files = {str(p.relative_to(DOCS).with_suffix("")) for p in pages()}
    assert files == listed


REPO_PATH = re.compile(r"`((?:authd|sidecar|scripts|tests|compose|images|docs|\.ci)/[\w./-]+"
                       r"|\.env\.example|justfile|pixi\.toml|Cargo\.toml|docker-compose\.yml|README\.md)`")


def test_no_page_names_a_file_that_is_not_in_the_repository():
    absent = []
    for page, content in pages().items():
        for path in REPO_PATH.findall(content):
            generated = path.startswith(("docs/_build", "compose/generated"))
            if not generated and not (ROOT / path.rstrip("/")).exists():
                absent.append(f"{page.relative_to(ROOT)}: {path}")
    assert not absent


def test_tests_cited_by_the_security_page_exist():
    cited = set(re.findall(r"`(test_\w+|[a-z]+(?:_[a-z0-9]+){3,})`", (DOCS / "architecture" / "tested.md").read_text()))
    assert len(cited) > 30
    sources = "\n".join(p.read_text() for d in ("authd/tests", "sidecar/tests", "tests/e2e", "tests/static")
                        for p in (ROOT / d).rglob("*") if p.suffix in (".rs", ".py"))
    defined = set(re.findall(r"(?:fn|def) (\w+)\(", sources))
    assert not sorted(cited - defined)


def test_documentation_packages_are_pinned_exactly():
    """What `pip freeze` lists in .venv-docs is exactly docs/constraints.txt, all `==` pins."""
    freeze = subprocess.run([str(ROOT / ".venv-docs" / "bin" / "python"), "-m", "pip", "freeze",
                             "--exclude", "pip", "--exclude", "setuptools"], capture_output=True,
                            text=True, check=True).stdout
    lines = lambda s: {l.strip().lower() for l in s.splitlines() if l.strip() and not l.startswith("#")}  # noqa: E731
    pinned = lines((DOCS / "constraints.txt").read_text())
    assert all("==" in l for l in pinned | lines((DOCS / "requirements.txt").read_text()))
    assert lines(freeze) == pinned
    assert lines((DOCS / "requirements.txt").read_text()) <= pinned
