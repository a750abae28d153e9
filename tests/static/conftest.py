"""Static-test fixtures: the fragments and the generator modules from scripts/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from fragments import load_servers  # noqa: E402


@pytest.fixture(scope="session")
def servers():
    return load_servers()
