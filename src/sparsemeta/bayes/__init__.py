"""The Bayesian branch: τ and μ priors, the exact (quadrature) engine, PyMC model builders,
sampling with its diagnostics gate, and prior-sensitivity comparisons.

Importing this package configures PyTensor (before PyMC loads it) for the models built here,
unless the user configured it already (see :func:`configure_pytensor`), and silences ArviZ's
once-a-day notice of its coming 1.0 rewrite (sparsemeta requires ``arviz<1``, so the notice
asks nothing of its users).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

warnings.filterwarnings(
    "ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning
)


def configure_pytensor() -> bool:
    """Tell PyTensor that no BLAS library is to be linked, unless the user said otherwise.

    PyTensor searches for a BLAS library the first time it compiles C code and, on a plain
    ``pip install`` (no system BLAS headers/libraries to link against), warns in four lines
    that "PyTensor could not link to a BLAS installation". The models of
    :mod:`sparsemeta.bayes.models` hold scalars and vectors of length k (no matrix products),
    and nutpie samples them through PyTensor's Numba backend, which does not use that
    setting: so an empty ``blas__ldflags`` is the right configuration for them, and it also
    spares every new process the search (several compiler runs).

    The flag is added to ``PYTENSOR_FLAGS`` only when PyTensor is not imported yet and
    neither ``PYTENSOR_FLAGS`` nor a PyTensor configuration file (``$PYTENSORRC``,
    ``~/.pytensorrc``) mentions ``blas__ldflags``.

    Returns
    -------
    bool
        Whether the flag was added.
    """
    if "pytensor" in sys.modules:
        return False
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    home = Path.home()
    rc_files = [
        *os.environ.get("PYTENSORRC", "").split(os.pathsep),
        str(home / ".pytensorrc"),
        str(home / ".pytensorrc.txt"),
    ]
    for name in rc_files:
        path = Path(name)
        if name and path.is_file() and "ldflags" in path.read_text(errors="replace"):
            return False
    if "blas__ldflags" in flags:
        return False
    os.environ["PYTENSOR_FLAGS"] = f"{flags},blas__ldflags=" if flags else "blas__ldflags="
    return True


configure_pytensor()
