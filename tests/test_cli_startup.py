"""Command-line start-up and first contact: what the parser imports, help text, pipes, warnings.

These run the console entry point in subprocesses with a clean environment (only PATH, HOME,
PYTHONPATH and the cache folder), as a user's shell would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparsemeta.cli import COMMANDS

SRC = Path(__file__).resolve().parents[1] / "src"
SECURE = "study,events_t,n_t,events_c,n_c\nCicchetti 1999a,31,46,9,54\nCicchetti 2006b,8,14,1,54\n"


def _env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: no PYTENSOR_FLAGS, no user configuration, a fresh HOME."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PYTHONPATH": str(SRC),
        "SPARSEMETA_CACHE_DIR": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
    }


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=600,
        check=False,
    )


def test_parser_imports_no_numerical_library(tmp_path):
    code = (
        "import sys\n"
        "from sparsemeta.cli import build_parser\n"
        "build_parser()\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numpy', 'scipy', 'pandas', 'pymc', 'pytensor', 'arviz', 'xarray', 'matplotlib'})\n"
        "print(','.join(heavy))\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_prints_percent_signs_once(command, capsys):
    from sparsemeta.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--help"] if command is None else [command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "%%" not in out
    assert "%(" not in out


def test_json_into_closed_pipe_ends_quietly(tmp_path):
    # `sparsemeta priors --json | head -1`: the reader goes away after one line
    done = subprocess.run(
        f"{sys.executable} -m sparsemeta.cli priors --json | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
        check=False,
    )
    assert done.stdout == "[\n"
    assert "Broken pipe" not in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr == ""


@pytest.mark.slow  # PyTensor compiles its C modules afresh in a fresh HOME (8-17 s)
def test_pytensor_needs_no_blas_search(tmp_path):
    # importing sparsemeta's Bayesian branch configures PyTensor so that its first C
    # compilation neither searches for BLAS nor warns "could not link to a BLAS installation"
    code = (
        "import warnings\n"
        "warnings.simplefilter('error')\n"
        "import sparsemeta.bayes.models\n"
        "import pytensor\n"
        "print(repr(pytensor.config.blas__ldflags))\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "''"
    assert "BLAS" not in done.stderr


def test_user_pytensor_flags_are_respected(tmp_path):
    env = _env(tmp_path) | {"PYTENSOR_FLAGS": "blas__ldflags=-lnothing"}
    code = "import sparsemeta.bayes, os; print(os.environ['PYTENSOR_FLAGS'])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.stdout.strip() == "blas__ldflags=-lnothing"


def _fit(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "secure.csv"
    data.write_text(SECURE, encoding="utf-8")
    argv = [sys.executable, "-m", "sparsemeta.cli", "fit", str(data), "--measure", "RR"]
    return subprocess.run(
        [*argv, "--tau-prior", "halfnormal(0.5)", *extra],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=900,
        check=False,
    )


def test_exact_fit_in_clean_environment_prints_no_warning(tmp_path):
    done = _fit(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.slow
def test_mcmc_fit_in_clean_environment_prints_no_warning(tmp_path):
    # a first MCMC fit in a fresh HOME: PyTensor compiles C code for PyMC's initial point
    # and nutpie compiles the model; nothing the user cannot act on may reach stderr
    done = _fit(tmp_path, "--model", "binomial-rr", "--draws", "300", "--tune", "300")
    assert done.returncode in (0, 1), done.stderr
    lines = [ln for ln in done.stderr.splitlines() if "diagnostics gate" not in ln]
    assert lines == []


def test_fit_help_lists_the_accepted_csv_columns(capsys):
    from sparsemeta import data
    from sparsemeta.cli import main

    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    for cols in (data.BINARY_COLUMNS, data.CONTINUOUS_COLUMNS, data.GENERIC_COLUMNS):
        assert ", ".join(cols) in out


def test_priors_listing_fits_in_100_columns(capsys):
    from sparsemeta.bayes import priors
    from sparsemeta.cli import main

    assert main(["priors"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    for string in priors.library()["string"]:
        assert string.split("(")[0] + "(" in out  # every prior is listed


@pytest.mark.slow  # builds and installs the package (~15 s) and compiles a model afresh
def test_fresh_pip_install_then_fit_prints_no_warning(tmp_path):
    """``pip install .`` into a new venv, then ``sparsemeta fit`` from its console script.

    The new venv gets the package itself by a real, non-editable ``pip install .`` (a wheel
    built by pip as a user's install builds it); its dependencies come from this test run's
    environment through a ``.pth`` line, so the test needs no download of PyMC and friends.
    The fits run with a fresh HOME (no PyTensor compile folder, no user configuration), no
    PYTHONPATH and no PYTENSOR_FLAGS: whatever they print on stderr a new user would see.
    """
    import sysconfig
    import venv

    root = SRC.parent
    target = tmp_path / "venv"
    venv.create(target, with_pip=False, symlinks=True)
    python = target / "bin" / "python"
    new_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(new_site, "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--quiet",
            "--no-cache-dir",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    env = _env(tmp_path)
    del env["PYTHONPATH"]
    env["PATH"] = f"{target / 'bin'}{os.pathsep}{env['PATH']}"
    where = subprocess.run(
        [str(python), "-c", "import sparsemeta; print(sparsemeta.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert where.startswith(new_site), where  # the installed copy, not the source tree
    data = tmp_path / "secure.csv"
    data.write_text(SECURE, encoding="utf-8")
    fit = [str(target / "bin" / "sparsemeta"), "fit", str(data), "--measure", "RR"]
    exact = subprocess.run(fit, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert exact.returncode == 0, exact.stderr
    assert "RR" in exact.stdout and exact.stderr == ""
    mcmc = subprocess.run(
        [*fit, "--model", "binomial-rr", "--draws", "300", "--tune", "300"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert mcmc.returncode in (0, 1), mcmc.stderr  # 1: the diagnostics gate, said on stderr
    assert [ln for ln in mcmc.stderr.splitlines() if "diagnostics gate" not in ln] == []
