"""The client requirements page (docs/architecture/client-requirements.md): every requirement says
what it rests on and which tests check it, and every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture" / "client-requirements.md"


def items() -> dict[str, str]:
    """Each requirement's text by id: a definition list whose terms read `E1. <title>`."""
    parts = re.split(r"^([EMPADCZT]\d+)\. .*\n", PAGE.read_text(), flags=re.M)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def test_every_requirement_rests_on_something_and_names_its_tests():
    found = items()
    assert len(found) >= 25
    vague = [i for i, text in found.items()
             if not re.search(r"Rests\s+on|No specification covers", text)
             or not re.search(r"Tested\s+by", text)]
    assert not vague


def test_tests_cited_by_the_client_requirements_page_exist():
    # The names after "tested by" in each paragraph (other backquoted words are protocol fields).
    tested = re.findall(r"[Tt]ested\s+by(.*?)(?:\n\n|$)", PAGE.read_text(), flags=re.S)
    cited = {n for part in tested for n in re.findall(r"`(\w+)`", part)}
    assert len(cited) > 40
    sources = "\n".join(p.read_text() for d in ("authd/tests", "sidecar/tests", "tests/e2e", "tests/static")
                        for p in (ROOT / d).rglob("*") if p.suffix in (".rs", ".py"))
    defined = set(re.findall(r"(?:fn|def) (\w+)\(", sources))
    assert not sorted(cited - defined)
