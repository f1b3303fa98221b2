"""Shared test configuration.

Real RevMan files live outside the repository in ``../shared/fixtures/revman`` (they are
never committed). Tests that need them use the ``revman_fixtures`` fixture, which skips
cleanly when the folder is absent; ``SPARSEMETA_FIXTURES`` points elsewhere if needed.

Caches. Each test process (each xdist worker) gets its own cache of MCMC fits in the
session's temporary folder, never in the user's home, so that a test never meets a fit stored
by another. Compiled models (:mod:`sparsemeta.bayes.compiled`) are shared instead: every
worker's ``compiled/`` folder is a link to one folder for the whole session, and a model is
compiled under a lock, so each model family is compiled once per session (about 10 s each on
a quiet two-core machine) however many workers need it; the others load it from disk.
``SPARSEMETA_TEST_COMPILED_CACHE=<folder>`` keeps that folder across sessions (a warm
contributor loop); entries are verified and keyed by model structure and library versions,
so a stale one is never used.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
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


def _session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every process of this session sees: the parent of the workers' own temporary
    folders under xdist, else this process's temporary folder."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (a no-op where ``fcntl`` does not exist)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: workers may compile the same model twice
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def shared_compiled_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's folder of compiled models, shared by all workers."""
    if folder := os.environ.get("SPARSEMETA_TEST_COMPILED_CACHE"):
        shared = Path(folder).expanduser().resolve()
    else:
        shared = _session_root(tmp_path_factory) / "compiled-models"
    shared.mkdir(parents=True, exist_ok=True)
    return shared


@pytest.fixture(scope="session")
def link_compiled_models(shared_compiled_models: Path):
    """Call with a cache folder to make its ``compiled/`` the session's shared folder (for
    tests that set their own ``SPARSEMETA_CACHE_DIR`` but are not about compilation)."""

    def link(cache_folder: Path) -> None:
        cache_folder.mkdir(parents=True, exist_ok=True)
        (cache_folder / "compiled").symlink_to(shared_compiled_models, target_is_directory=True)

    return link


@pytest.fixture(autouse=True, scope="session")
def _isolated_fit_cache(tmp_path_factory: pytest.TempPathFactory, link_compiled_models):
    """Keep the on-disk cache of MCMC fits inside the test session, never in the user's home;
    its compiled models are the session's shared ones."""
    folder = tmp_path_factory.mktemp("fit-cache")
    link_compiled_models(folder)
    patch = pytest.MonkeyPatch()
    patch.setenv("SPARSEMETA_CACHE_DIR", str(folder))
    yield
    patch.undo()


@pytest.fixture(autouse=True, scope="session")
def _compile_once_per_session(shared_compiled_models: Path):
    """Workers that need the same model at the same time compile it once: the second waits
    for the first's entry (a lock per entry, only for entries in the shared folder) and
    then loads it from disk."""
    from sparsemeta.bayes import compiled

    original = compiled.compile_model
    shared = shared_compiled_models.resolve()

    def compile_model(model, var_names, *args, **kwargs):
        path = compiled._path(compiled._record(model, var_names))
        if path.parent.resolve() != shared:
            return original(model, var_names, *args, **kwargs)
        with _locked(shared / f".{path.stem}.lock"):
            return original(model, var_names, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(compiled, "compile_model", compile_model)
    yield
    patch.undo()
