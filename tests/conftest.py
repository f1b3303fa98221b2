"""Shared test configuration.

Real RevMan files live outside the repository in ``../shared/fixtures/revman`` (they are
never committed). Tests that need them use the ``revman_fixtures`` fixture, which skips
cleanly when the folder is absent; ``SPARSEMETA_FIXTURES`` points elsewhere if needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("SPARSEMETA_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def revman_fixtures() -> Path:
    """Folder of real RevMan 5 files; skips the test when it is not on this machine."""
    folder = FIXTURES / "revman"
    if not folder.is_dir():
        pytest.skip(f"RevMan fixtures not found at {folder}")
    return folder


@pytest.fixture(autouse=True, scope="session")
def _isolated_fit_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep the on-disk cache of MCMC fits inside the test session, never in the user's home."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SPARSEMETA_CACHE_DIR", str(tmp_path_factory.mktemp("fit-cache")))
    yield
    patch.undo()
