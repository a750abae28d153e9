"""References in the repository point only to what a user has: the project's own docs, the RFCs and
the MCP specification. No file cites the team's working notes, which are not part of the
repository (their names are assembled below so that this file does not cite them either); every
`docs/<page>.md#<section>` a comment names exists; every client requirement id a comment names
(E3, M1, ...) is defined on docs/architecture/client-requirements.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS_PAGE = "docs/architecture/client-requirements.md"

D, C, S = (name.upper() for name in ("design", "clients", "style"))
NOTES = "|".join((D, C, S))
WHERE = "/work/" + "shared"
HOUSE = "house " + S.lower()
FORBIDDEN = re.compile(
    rf"\b(?:{NOTES})\.md\b"  # the notes by file name
    rf"|(?i:\b(?:{D}|{S})\.md\b)"  # in any case (no file of the project has those names)
    rf"|\b{D}[ \t]*(?:§|section\b|sec\.|rule\b|\d)"  # their sections and rules by number
    rf"|\b{C}[ \t]+[EMPADCZT]\d"  # the client checklist by item
    rf"|\b{S}[ \t]+rules?\b"
    rf"|{WHERE}"  # where the notes live
    rf"|(?i:\b{HOUSE}\b)"  # a rule cited without its reason
)
# CI machinery, not a citation: .ci/run takes the RustSec advisory snapshot the workplace provides
# (the machine cannot reach GitHub); no document is named.
ALLOWED = {(".ci/run", "rustsec-advisory-db.bundle")}

ID = r"[EMPADCZT]\d+"
# Words of a comment may be wrapped onto the next line, after its comment marker.
GAP = r"(?:[ \t]+|[ \t]*\n[ \t]*(?://[/!]?|#)?[ \t]*)"
CITED_IDS = re.compile(rf"\b[Cc]lient{GAP}requirements?{GAP}({ID}(?:[ \t]*(?:-|–|,|and)[ \t]*{ID})*)")
DOC_REF = re.compile(r"(?<![\w.-])(?:\.\./)*(docs/[\w/-]+\.md)(?:#([\w-]+))?")
SKIP = re.compile(r"^(Cargo\.lock|docs/_build/)|\.(png|jpg|ico|gz|bundle|lock)$")


def repository_files() -> list[str]:
    """Tracked files and new ones not ignored (so that a reference is caught before its commit)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=ROOT, capture_output=True, check=True).stdout.decode()
    return sorted({f for f in out.split("\0") if f and not SKIP.search(f)})


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    found = {}
    for rel in repository_files():
        path = ROOT / rel
        if path.is_symlink() or not path.is_file():
            continue
        try:
            found[rel] = path.read_text()
        except UnicodeDecodeError:
            continue
    assert "README.md" in found and "authd/src/verify.rs" in found
    return found


@pytest.mark.parametrize("text", [
    f"(see {D}.md)", f"{D} §4.4", f"{D} 4.4, 5", f"({D}.md section 5)", f'{D} rule "limits"',
    f"{C}.md E3", f"{C} M3, M4", f"the {C}.md checklist", f"{S} rule 7", f"{S}.md", f"{D.lower()}.md",
    f"{WHERE}/notes", f"the {HOUSE} says",
])
def test_the_pattern_catches_every_known_spelling(text):
    assert FORBIDDEN.search(text)


@pytest.mark.parametrize("text", [
    f"const {C}: usize = 6;", f"0..{C})", "[connecting clients](clients.md)",
    "def test_priorities_and_middlewares_follow_design", "client requirement E3",
])
def test_the_pattern_leaves_ordinary_text_alone(text):
    assert not FORBIDDEN.search(text)


def test_no_file_cites_the_private_notes(texts):
    hits = [f"{rel}:{n}: {line.strip()}"
            for rel, text in texts.items()
            for n, line in enumerate(text.splitlines(), 1)
            if FORBIDDEN.search(line) and not any(rel == f and m in line for f, m in ALLOWED)]
    assert not hits, "cite the project's docs, the RFC or the MCP spec section instead:\n" + "\n".join(hits)


def slug(title: str) -> str:
    """The anchor MyST gives a heading (`myst_heading_anchors`, GitHub style)."""
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).replace("`", "")
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(page: str) -> set[str]:
    """Anchors of the headings of levels 1 to 3 (those `myst_heading_anchors: 3` makes), outside
    fenced code, and explicit `(target)=` labels."""
    found, fenced = set(), False
    for line in page.splitlines():
        if line.startswith(("```", ":::")):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,3} (.+)", line)):
            found.add(slug(m.group(1)))
        elif m := re.match(r"\(([\w-]+)\)=\s*$", line):
            found.add(m.group(1))
    return found


def test_every_docs_reference_names_a_page_and_section_that_exist(texts):
    broken = []
    for rel, text in texts.items():
        for path, anchor in DOC_REF.findall(text):
            page = ROOT / path
            if not page.is_file():
                broken.append(f"{rel}: {path} does not exist")
            elif anchor and anchor not in anchors(page.read_text()):
                broken.append(f"{rel}: {path} has no section #{anchor}")
    assert not broken, "\n".join(sorted(set(broken)))


def defined_ids() -> set[str]:
    """Requirement ids the page defines: each item starts a line as `E1. <title>`."""
    return set(re.findall(rf"^({ID})\. ", (ROOT / REQUIREMENTS_PAGE).read_text(), re.M))


def expand(ids: str) -> set[str]:
    out = set()
    for part in re.split(r"[ \t]*(?:,|and)[ \t]*", ids):
        m = re.fullmatch(rf"([A-Z])(\d+)[ \t]*[-–][ \t]*(?:[A-Z])?(\d+)", part)
        if m:
            out |= {f"{m.group(1)}{i}" for i in range(int(m.group(2)), int(m.group(3)) + 1)}
        elif part:
            out.add(part)
    return out


def test_the_requirements_page_defines_every_family():
    ids = defined_ids()
    assert {"E1", "E4", "M1", "M4", "P1", "P2", "A1", "A2", "D1", "D3", "C1", "C4", "Z1", "Z4",
            "T1", "T3"} <= ids


def test_every_cited_client_requirement_is_defined(texts):
    ids = defined_ids()
    unknown = [f"{rel}: {i}" for rel, text in texts.items()
               for m in CITED_IDS.finditer(text) for i in sorted(expand(m.group(1)) - ids)]
    assert not unknown, "\n".join(unknown)
