"""Run every script in ``examples/`` so that none of them can rot.

Each script runs in its own interpreter with ``SPARSEMETA_QUICK=1`` (scripts then use short
MCMC runs and small simulation grids) and must exit with status 0 without printing a
traceback. The output folder is a temporary directory (``SPARSEMETA_OUTPUT``), so running
the tests never writes into the working tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def test_examples_folder_is_not_empty():
    assert EXAMPLES, "no scripts found in examples/"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path):
    env = {
        **os.environ,
        "SPARSEMETA_QUICK": "1",
        "SPARSEMETA_OUTPUT": str(tmp_path),
        "MPLBACKEND": "Agg",
    }
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, (
        f"{script.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
