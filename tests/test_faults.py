"""Fault injection (issue 13): hostile and broken fit caches, interrupted runs, unusable
destinations, concurrent runs, special files as inputs, hostile labels.

Every test provokes the fault for real (a file swapped, truncated or replaced by a folder;
``os.kill`` on a running ``sparsemeta reproduce``; a FIFO; ``/dev/zero``) and checks what the
user is promised: a refit with a one-line notice, a complete report or the previous one, one
line on stderr with the documented exit status, no temporary files. MCMC is tiny (or the
exact engine is used) so that the file runs in well under a minute.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

from sparsemeta.bayes import disk_cache, models, sample
from sparsemeta.bayes.priors import parse
from sparsemeta.errors import CacheWarning, DiagnosticsWarning

TINY = {"draws": 100, "tune": 100, "chains": 2}


# ----------------------------------------------------------------------------- fit cache


@pytest.fixture
def bare_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPARSEMETA_CACHE_DIR", str(folder))
    disk_cache.REPORTED.clear()
    return folder


@pytest.fixture
def cache(bare_cache, link_compiled_models):
    """A fresh cache of fits whose compiled models are the session's (tests/conftest.py):
    these tests are about fits, and the model is compiled once per session."""
    link_compiled_models(bare_cache)
    return bare_cache


def _model():
    y, se = np.array([-0.4, 0.1, -0.9]), np.array([0.3, 0.5, 0.6])
    return models.normal_normal(y, se, ["A", "B", "C"], parse("halfnormal(0.5)"), None)


def _fit(seed: int):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DiagnosticsWarning)  # tiny runs fail the gate
        result = sample.sample(_model(), seed=seed, cache=True, **TINY)
    notices = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    return result, notices


def _same_draws(a, b) -> bool:
    return all(
        np.array_equal(a.idata.posterior[v].values, b.idata.posterior[v].values)
        for v in ("mu", "tau", "theta")
    )


def test_cache_hit_is_verified_and_silent(cache):
    first, notices = _fit(11)
    again, later = _fit(11)
    assert (first.from_disk, again.from_disk, notices, later) == (False, True, [], [])
    assert _same_draws(first, again)


def test_entry_swapped_for_another_fits_file_is_refitted(cache):
    eleven, _ = _fit(11)
    (entry11,) = cache.glob("*.fit")
    twelve, _ = _fit(12)
    (entry12,) = set(cache.glob("*.fit")) - {entry11}
    shutil.copyfile(entry12, entry11)  # a valid entry, but made for seed 12
    again, notices = _fit(11)
    assert not again.from_disk and _same_draws(again, eleven)
    assert not _same_draws(again, twelve)
    assert len(notices) == 1 and "another fit" in notices[0] and "refitting" in notices[0]


@pytest.mark.parametrize("keep", [0.5, 0.999, 0.0])
def test_truncated_entry_is_refitted(cache, keep):
    first, _ = _fit(11)
    (entry,) = cache.glob("*.fit")
    raw = entry.read_bytes()
    entry.write_bytes(raw[: int(len(raw) * keep)])
    again, notices = _fit(11)
    assert not again.from_disk and _same_draws(again, first)
    assert len(notices) == 1 and "refitting" in notices[0]
    assert _fit(11)[0].from_disk  # the refit repaired the entry


def test_flipped_payload_byte_is_refitted(cache):
    first, _ = _fit(11)
    (entry,) = cache.glob("*.fit")
    raw = bytearray(entry.read_bytes())
    raw[-100] ^= 0xFF
    entry.write_bytes(bytes(raw))
    again, notices = _fit(11)
    assert not again.from_disk and _same_draws(again, first)
    assert len(notices) == 1 and "checksum" in notices[0]


def test_entry_replaced_by_a_folder_is_refitted_and_reported_once(cache):
    first, _ = _fit(11)
    (entry,) = cache.glob("*.fit")
    entry.unlink()
    entry.mkdir()  # unreadable as a file and impossible to replace
    again, notices = _fit(11)
    assert not again.from_disk and _same_draws(again, first)
    assert len(notices) == 2  # "unusable; refitting" and "cannot be written"
    _, twice = _fit(11)
    assert twice == []  # each problem is reported once per process


def test_unreadable_entry_is_refitted(cache, monkeypatch):
    first, _ = _fit(11)
    (entry,) = cache.glob("*.fit")
    real_open = open

    def deny(path, *args, **kwargs):
        if str(path) == str(entry):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    again, notices = _fit(11)
    assert not again.from_disk and _same_draws(again, first)
    assert any("Permission denied" in n for n in notices)


@pytest.mark.parametrize("how", ["regular file", "entry is a folder"])
def test_unwritable_cache_never_fails_the_fit(tmp_path, monkeypatch, how):
    disk_cache.REPORTED.clear()
    folder = tmp_path / "cache"
    if how == "regular file":
        folder.write_text("not a folder")
    else:
        folder.mkdir()
    monkeypatch.setenv("SPARSEMETA_CACHE_DIR", str(folder))
    reference, notices = _fit(11)
    if how == "entry is a folder":
        (entry,) = folder.glob("*.fit")
        entry.unlink()
        entry.mkdir()
        disk_cache.REPORTED.clear()
        reference, notices = _fit(11)
    assert [n for n in notices if "cannot be written" in n]
    result, again = _fit(11)
    assert not result.from_disk and _same_draws(result, reference)
    assert again == []  # reported once per process
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_concurrent_writers_and_readers_share_a_cache_folder(bare_cache):
    """Threads storing and loading one entry at once: every read is a miss or a whole,
    verified entry (never a half-written one), and no temporary file is left."""
    import arviz as az

    rng = np.random.default_rng(3)
    idata = az.from_dict(posterior={"mu": rng.normal(size=(2, 500))})
    record = {"fit": "concurrency test"}
    cache = bare_cache
    entry = cache / "entry.fit"
    results: list[object] = []

    def write() -> None:
        for _ in range(5):
            sample._store_fit(idata, entry, record)

    def read() -> None:
        while any(w.is_alive() for w in writers):
            loaded = sample._load_fit(entry, record)
            results.append(None if loaded is None else loaded[0].posterior["mu"].values)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        writers = [threading.Thread(target=write) for _ in range(2)]
        readers = [threading.Thread(target=read) for _ in range(2)]
        for t in writers + readers:
            t.start()
        for t in writers + readers:
            t.join()
    assert not [w for w in caught if issubclass(w.category, CacheWarning)]
    loaded = [r for r in results if r is not None]
    assert loaded and all(np.array_equal(r, idata.posterior["mu"].values) for r in loaded)
    assert [p.name for p in cache.iterdir()] == ["entry.fit"]


# ----------------------------------------------------------------------------- interruption

PLAN = """\
plan_version = 1

[review]
id = "tiny"
title = "Tiny review"
data = "studies.csv"

[[analyses]]
comparison = "A vs B"
outcome = "Death"
measure = "RR"
models = ["exact"]

[[bayes.tau_priors]]
prior = "halfnormal(0.5)"
default = true
why = "test"
"""
STUDIES = """\
comparison,outcome,study,events_t,n_t,events_c,n_c
A vs B,Death,Smith 2001,3,20,6,21
A vs B,Death,Jones 2005,1,15,4,14
A vs B,Death,Lee 2010,5,40,9,38
"""

#: runs ``sparsemeta reproduce`` and stops at one moment (printing READY) until signalled
DRIVER = """\
import os, signal, sys, time
from sparsemeta.cli import main, reproduce as cli_reproduce
from sparsemeta.present import report
import sparsemeta.review.reproduce as reproduce_module

moment = sys.argv[1]

def ready():
    sys.stderr.write("READY\\n")
    sys.stderr.flush()

def wait(*args, **kwargs):
    ready()
    time.sleep(60)

def wrap(owner, name, held=False):
    original = getattr(owner, name)
    calls = []
    def stop(*args, **kwargs):
        if not calls:
            calls.append(1)
            ready()
            if held:  # signals are held back here: give ours time to arrive
                time.sleep(2)
            else:
                time.sleep(60)
        return original(*args, **kwargs)
    setattr(owner, name, stop)

if moment == "loading the plan":
    wrap(cli_reproduce, "_load")
elif moment == "computing":
    wrap(reproduce_module, "reproduce")  # the CLI imports it when it runs
elif moment == "drawing figures":
    wrap(report, "_save")
elif moment == "swapping folders":
    class Os:  # the report module's own view of os, so that only its renames stop
        def __getattr__(self, name):
            return getattr(os, name)
    report.os = Os()
    wrap(report.os, "rename", held=True)
elif moment == "printing the summary":
    wrap(cli_reproduce, "_table")
sys.exit(main(["reproduce", *sys.argv[2:]]))
"""
MOMENTS = (
    "loading the plan",
    "computing",
    "drawing figures",
    "swapping folders",
    "printing the summary",
)
#: each moment is a ``sparsemeta reproduce`` subprocess (3-13 s); the contributor loop
#: (``-m "not slow"``) keeps one, CI runs them all
_LOOP_MOMENTS = ("computing",)


@pytest.fixture
def tiny_plan(tmp_path):
    (tmp_path / "plan.toml").write_text(PLAN)
    (tmp_path / "studies.csv").write_text(STUDIES)
    return tmp_path / "plan.toml"


def _run(args: list[str], cwd, moment: str | None = None, signum=signal.SIGTERM):
    """Run the driver; when ``moment`` is given, send ``signum`` once it says READY."""
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, moment or "none", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if moment is not None:
        assert proc.stderr.readline() == "READY\n"
        os.kill(proc.pid, signum)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _complete(folder) -> dict[str, bytes] | None:
    """The report's files if ``folder`` holds a complete report (every file its manifest
    lists, nothing else), else None."""
    from sparsemeta.present import report

    listed = json.loads((folder / report.MANIFEST).read_text())["files"]
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if not p.is_dir()
    }
    assert set(files) == {*listed, report.MANIFEST}
    assert set(report.REPORT_FILES) <= set(listed)
    return files


@pytest.fixture
def previous_report(tiny_plan, monkeypatch):
    """A complete report in ``out`` from the plan's data; then the data change."""
    from sparsemeta.cli import main

    monkeypatch.chdir(tiny_plan.parent)
    assert main(["reproduce", "plan.toml", "--out", "out", "--no-mcmc"]) == 0
    (tiny_plan.parent / "studies.csv").write_text(STUDIES.replace("3,20,6,21", "4,20,6,21"))
    return _complete(tiny_plan.parent / "out")


@pytest.mark.parametrize(
    "moment",
    [m if m in _LOOP_MOMENTS else pytest.param(m, marks=pytest.mark.slow) for m in MOMENTS],
)
def test_sigterm_leaves_the_previous_report_or_a_complete_new_one(
    tiny_plan, previous_report, moment
):
    folder = tiny_plan.parent
    status, _, err = _run(["plan.toml", "--out", "out", "--no-mcmc"], folder, moment)
    lines = err.splitlines()
    assert status == 143 and len(lines) == 1, err
    assert lines[0].startswith("sparsemeta reproduce: interrupted (SIGTERM); ")
    after = _complete(folder / "out")
    if moment in ("swapping folders", "printing the summary"):
        assert "the new report in out is complete" in lines[0]
        assert after["summary.csv"] != previous_report["summary.csv"]
    else:
        assert "nothing written (the report in out is unchanged)" in lines[0]
        assert after == previous_report
    assert sorted(p.name for p in folder.iterdir()) == ["out", "plan.toml", "studies.csv"]


def test_sigint_on_a_first_run_leaves_no_folder_and_no_traceback(tiny_plan):
    folder = tiny_plan.parent
    status, out, err = _run(
        ["plan.toml", "--out", "out", "--no-mcmc"], folder, "drawing figures", signal.SIGINT
    )
    assert (status, out) == (130, "")
    assert err.splitlines() == ["sparsemeta reproduce: interrupted (SIGINT); nothing written"]
    assert sorted(p.name for p in folder.iterdir()) == ["plan.toml", "studies.csv"]


# ----------------------------------------------------------------------------- special files


def _cli(argv, cwd, timeout=60):
    """``sparsemeta ARGV`` in a subprocess (a hang fails the test instead of the run)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from sparsemeta.cli import main; sys.exit(main())",
            *argv,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("reader", ["read_table", "read_revman", "plan", "published"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "directory"])
def test_special_files_are_refused_up_front(reader, special, fifo, tmp_path):
    from sparsemeta.errors import SparsemetaError
    from sparsemeta.io import read_revman, read_table
    from sparsemeta.review import plan as plan_mod

    target = {"fifo": fifo, "/dev/zero": "/dev/zero", "directory": tmp_path}[special]
    if reader == "published":
        (tmp_path / "plan.toml").write_text(
            PLAN.replace("[[analyses]]", 'published = "p"\n\n[[analyses]]')
        )
        (tmp_path / "studies.csv").write_text(STUDIES)
        link = tmp_path / "p"
        if special == "directory":
            link.mkdir()
        else:
            link.symlink_to(target)
        plan = plan_mod.load(tmp_path / "plan.toml", check_data=False)
        call = plan.published_table
    elif reader == "read_revman" and special == "directory":
        pytest.skip("a folder is a Cochrane data package for read_revman")
    else:
        call = {"read_table": read_table, "read_revman": read_revman, "plan": plan_mod.load}[reader]
        call = functools.partial(call, target)
    what = {"fifo": "named pipe", "/dev/zero": "character device", "directory": "directory"}
    with pytest.raises(SparsemetaError, match=what[special]):
        call()


def test_fifo_as_plan_on_the_command_line_does_not_hang(fifo, tmp_path):
    status, out, err = _cli(["reproduce", str(fifo), "--out", "r", "--no-mcmc"], tmp_path)
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"sparsemeta reproduce: error: {fifo}: cannot read file (it is a named pipe (FIFO), "
        "not a regular file)"
    ]


def test_input_larger_than_the_limit_is_refused_with_its_size(tmp_path):
    from sparsemeta.errors import PlanError
    from sparsemeta.io import files
    from sparsemeta.review import plan as plan_mod

    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * plan_mod.MAX_PLAN_BYTES + b"\n")
    with pytest.raises(PlanError, match=r"more than 1,048,576 bytes: 1,048,579"):
        plan_mod.load(big)
    with pytest.raises(PlanError, match="more than 10 bytes"):
        files.read_input(tmp_path / "big.toml", "test", PlanError, limit=10)


# ----------------------------------------------------------------------------- hostile inputs


def test_plan_with_a_utf8_byte_order_mark_is_read(tiny_plan):
    from sparsemeta.review import plan as plan_mod

    tiny_plan.write_bytes(b"\xef\xbb\xbf" + PLAN.encode())
    assert plan_mod.load(tiny_plan).id == "tiny"


PUBLISHED_HEADER = "comparison,outcome,timepoint,measure,estimate,ci_low,ci_high\n"


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        pytest.param(
            PUBLISHED_HEADER + "A vs B,Death,,RR,0.48,0.23,0.99,extra\n",
            ("line 2", "8 fields where the header has 7"),
            id="extra-field",
        ),
        pytest.param("", ("the file is empty",), id="empty"),
        pytest.param(
            (PUBLISHED_HEADER + "A vs B,Décès,,RR,0.48,0.23,0.99\n").encode("latin-1"),
            ("line 2", "byte 0xe9", "not UTF-8"),
            id="latin-1",
        ),
        pytest.param(
            PUBLISHED_HEADER + "A vs B,Death,,RR,0·48,0.23,0.99\n",
            ("line 2", "field 'estimate'", "is not a number"),
            id="not-a-number",
        ),
        pytest.param(
            "comparison,outcome\nA vs B,Death\n",
            ("line 1", "missing column(s) 'timepoint'"),
            id="missing-column",
        ),
    ],
)
def test_published_table_errors_name_file_line_and_field(tiny_plan, content, fragments):
    from sparsemeta.errors import PlanError
    from sparsemeta.review import plan as plan_mod

    folder = tiny_plan.parent
    tiny_plan.write_text(PLAN.replace("[[analyses]]", 'published = "pub.csv"\n\n[[analyses]]'))
    (folder / "pub.csv").write_bytes(content.encode() if isinstance(content, str) else content)
    plan = plan_mod.load(tiny_plan, check_data=False)
    with pytest.raises(PlanError) as info:
        plan.published_table(printed=False)
    message = str(info.value)
    assert "pub.csv" in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("halfnormal(" + "(" * 100 + "0.5" + ")" * 100 + ")", "nested 101 deep"),
        ("halfnormal(" + "-" * 10_000 + "1)", "more than the 1000"),
        ("halfnormal(" + "-" * 50 + "1)", "more than one sign"),
        ("[" * 200_000, "more than the 1000"),
    ],
)
def test_hostile_prior_strings_fail_with_one_line(text, fragment):
    from sparsemeta.bayes import priors
    from sparsemeta.errors import PriorError

    with pytest.raises(PriorError, match=fragment):
        priors.parse(text)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"draws": 1, "chains": 1}, "draws must be an integer >= 4"),
        ({"draws": 100, "chains": 1}, "chains must be an integer >= 2"),
        ({"draws": 3}, "draws must be an integer >= 4"),
        ({"tune": -1}, "tune must be an integer >= 0"),
        ({"draws": 10.5}, "draws must be an integer"),
        ({"seed": -3}, "seed must be an integer >= 0"),
    ],
)
def test_sampler_settings_keep_diagnostics_computable(settings, fragment):
    from sparsemeta.errors import DataError

    with pytest.raises(DataError, match=fragment):
        sample.sample(_model(), **settings)


def test_plan_and_command_line_refuse_one_chain_of_one_draw(tiny_plan, capsys):
    from sparsemeta.cli import main
    from sparsemeta.errors import PlanError
    from sparsemeta.review import plan as plan_mod

    tiny_plan.write_text(PLAN + "\n[bayes.mcmc]\ndraws = 1\nchains = 1\n")
    with pytest.raises(PlanError, match=r"\[bayes.mcmc\].draws: expected an integer >= 4"):
        plan_mod.load(tiny_plan)
    table = tiny_plan.parent / "studies.csv"
    argv = ["fit", str(table), "--measure", "RR", "--tau-prior", "halfnormal(0.5)"]
    assert main([*argv, "--engine", "mcmc", "--draws", "1", "--chains", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparsemeta fit: error: fit: draws must be an integer >= 4")
    assert len(err.splitlines()) == 1


# ----------------------------------------------------------------------------- hostile labels

HOSTILE = {
    "Smith 2001": '=HYPERLINK("http://evil.example","click")',
    "Jones 2005": "+cmd|' /C calc'!A0",
    "Lee 2010": "Lee\x1b]0;pwned\x07 2010 <script>alert(1)</script>",
}


def test_hostile_labels_are_neutralised_in_csv_markdown_and_terminal(
    tiny_plan, monkeypatch, capsys
):
    """OWASP CSV-injection rule in every report CSV; no raw HTML in report.md; no raw
    control characters on the terminal (the labels are kept, escaped, everywhere)."""
    import csv

    from sparsemeta.cli import main

    folder = tiny_plan.parent
    studies = STUDIES
    for plain, hostile in HOSTILE.items():
        studies = studies.replace(plain, '"' + hostile.replace('"', '""') + '"')
    outcome = "@SUM(A1:A9) deaths\x1b]0;pwned\x07"
    (folder / "studies.csv").write_text(studies.replace("Death", outcome))
    toml = outcome.replace("\x1b", "\\u001b").replace("\x07", "\\u0007")
    tiny_plan.write_text(PLAN.replace('"Death"', f'"{toml}"'))
    monkeypatch.chdir(folder)
    assert main(["reproduce", "plan.toml", "--out", "out", "--no-mcmc"]) == 0
    stdout = capsys.readouterr().out
    cells = []
    for name in ("summary.csv", "studies.csv", "prior_comparison.csv"):
        with open(folder / "out" / name, newline="", encoding="utf-8") as fh:
            cells += [c for row in csv.reader(fh) for c in row]
    executable = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert [c for c in executable if not _is_number(c)] == []
    assert "'" + HOSTILE["Smith 2001"] in cells and "'" + HOSTILE["Jones 2005"] in cells
    assert any(c.startswith("'@SUM(A1:A9) deaths") for c in cells)
    markdown = (folder / "out" / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in markdown and "&lt;script>" in markdown
    assert "<script>" not in (folder / "out" / "report.html").read_text(encoding="utf-8")
    assert "\x1b" not in stdout and "\x07" not in stdout
    assert "deaths\\x1b]0;pwned\\x07" in stdout


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_terminal_escape_in_error_messages_and_warnings(tmp_path, capsys):
    from sparsemeta.cli import main

    table = tmp_path / "t.csv"
    table.write_text("study,effect,se\nA\x1b[2J,0.1,0.2\nB\x07,0.3,-1\n")
    status = main(["fit", str(table), "--measure", "MD", "--tau-prior", "halfnormal(0.5)"])
    err = capsys.readouterr().err
    assert status == 2 and "\x07" not in err and "\x1b" not in err
    assert len(err.splitlines()) == 1


def test_fit_json_writes_non_finite_numbers_explicitly(tmp_path, capsys):
    """exp(900) overflows: the ratio is infinite and written "Infinity", never null."""
    from sparsemeta.cli import main

    table = tmp_path / "huge.csv"
    table.write_text("study,effect,se\nA,900,1\nB,905,1.5\n")
    argv = ["fit", str(table), "--measure", "RR", "--tau-prior", "halfnormal(0.5)", "--json"]
    assert main([*argv, "--mu-prior", "normal(0, 1000)"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["ratio"]["mu"] == {"q025": "Infinity", "q50": "Infinity", "q975": "Infinity"}
    assert 899 < record["mu"]["q50"] < 905


# ----------------------------------------------------------------------------- full disk, bad cache


def test_disk_full_while_writing_keeps_the_earlier_report(
    previous_report, tiny_plan, monkeypatch, capsys
):
    """ENOSPC in the middle of writing a report: one line, exit 2, the earlier report whole."""
    import errno

    from sparsemeta.cli import main
    from sparsemeta.present import report

    real = report.Path.write_text
    calls = {"n": 0}

    def full_disk(self, *args, **kwargs):
        calls["n"] += 1
        if self.name == "report.html":  # report.md is already written by then
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(report.Path, "write_text", full_disk)
    status = main(["reproduce", "plan.toml", "--out", "out", "--no-mcmc"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and calls["n"] >= 1
    assert len(err) == 1 and "No space left on device" in err[0]
    assert "the earlier report is unchanged" in err[0]
    assert _complete(tiny_plan.parent / "out") == previous_report
    assert [p.name for p in tiny_plan.parent.iterdir() if p.name.startswith(".out.tmp")] == []


@pytest.mark.slow
def test_unwritable_cache_folder_still_yields_a_complete_report(
    tiny_plan, tmp_path, monkeypatch, capsys
):
    """A regular file where the fit-cache folder should be: the MCMC fits of a reproduce run
    are delivered, the report is complete, and the cache problem is reported once."""
    from sparsemeta.cli import main

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("SPARSEMETA_CACHE_DIR", str(blocker / "cache"))
    # the package's default sampler settings, so the diagnostics gate passes
    tiny_plan.write_text(PLAN.replace('models = ["exact"]', 'models = ["exact", "binomial"]'))
    monkeypatch.chdir(tiny_plan.parent)
    status = main(["reproduce", "plan.toml", "--out", "out"])
    err = capsys.readouterr().err
    assert status == 0, err
    assert _complete(tiny_plan.parent / "out") is not None
    assert err.lower().count("cache") >= 1
