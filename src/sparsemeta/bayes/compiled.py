"""Compiled models that persist across processes: a disk cache of nutpie's machine code.

nutpie compiles a PyMC model into two C callbacks (log density with gradient, and the
expansion of a draw into the stored variables) by Numba, through PyTensor's Numba backend;
on a quiet 2-core machine that takes 9-16 s, and Numba's own cache refuses these callbacks
(nutpie builds them as closures). Their machine code, however, is self-contained: the data
reach it through a pointer at call time (nutpie's ``user_data``) and it holds no address of
the compiling process (Numba's "dynamic globals"; checked before storing). So the first
compilation of a model stores the object code of both callbacks (Numba's
``serialize_using_object_code``) with the layout nutpie needs (dimensions, variable shapes,
names of the data containers); a later process links that code back in (about 0.03 s) and
rebuilds the rest from the model it was given: the data from the model's containers and
the initial-point function exactly as :func:`nutpie.compile_pymc_model` does, so a seed
gives the same draws whether the model was compiled or loaded.

Entries live in ``cache_dir()/compiled`` (:func:`sparsemeta.bayes.disk_cache.cache_dir`)
and are verified like the cache of fits (:mod:`sparsemeta.bayes.disk_cache`): the key
records the model's structure (the printed PyTensor graphs of its log density and of every
stored variable, its variable and data-container names, and the variables kept), the
versions of nutpie, PyMC, PyTensor, Numba, llvmlite, NumPy and Python, and the CPU Numba
compiles for; a broken entry is recompiled after one
:class:`~sparsemeta.errors.CacheWarning` and a folder that cannot be written never fails the
fit.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sparsemeta.bayes import disk_cache

if TYPE_CHECKING:
    import pymc as pm
    from nutpie.compile_pymc import CompiledPyMCModel

__all__ = ["compile_model"]

#: first line of every compiled-model entry (:mod:`sparsemeta.bayes.disk_cache`); the
#: payload is a JSON line (layout, symbol names, blob lengths) followed by the blobs
_ENTRY_MAGIC = b"sparsemeta compiled-model entry 1\n"
_LIBRARIES = ("compiled_logp_func", "compiled_expand_func")


class _Callback:
    """A C callback linked back in from the cache (what nutpie reads: ``address``)."""

    def __init__(self, library: Any, symbol: str) -> None:
        self._library = library  # keeps the machine code alive
        self.address = library.get_pointer_to_function(symbol)
        if not self.address:
            raise ValueError(f"symbol {symbol} missing from the cached code")


def _layout(model: pm.Model, var_names: list[str] | None) -> dict[str, list[int]]:
    """Shapes of the sampled and stored variables.

    The printed graph leaves sizes out: the binomial models for k = 1 and k = 2 print alike,
    but their compiled forms differ in the number of parameters (one baseline and one effect
    per study). The normal-normal model samples only mu and tau, so one entry serves every k.
    """
    names = [rv.name for rv in model.free_RVs] + [
        n for n in (var_names or []) if n not in {rv.name for rv in model.free_RVs}
    ]
    dims = model.named_vars_to_dims
    layout: dict[str, list[int]] = {}
    for name in names:
        static = model[name].type.shape
        if name in dims:
            layout[name] = [len(model.coords[d]) for d in dims[name]]
        elif None not in static:
            layout[name] = [int(n) for n in static]
        else:
            shapes = model.eval_rv_shapes()
            layout[name] = [int(n) for n in shapes.get(name, np.shape(model[name].eval()))]
    return layout


def _record(model: pm.Model, var_names: list[str] | None) -> dict[str, Any]:
    """The full key of a model's entry: its structure, the libraries and the CPU."""
    from numba.core.registry import cpu_target
    from pytensor.printing import debugprint

    graphs = [model.logp(), *model.unobserved_value_vars]
    printed = debugprint(graphs, file="str", print_type=True)
    return {
        "graph": disk_cache.sha256_key(printed),
        "layout": _layout(model, var_names),
        "free": [rv.name for rv in model.free_RVs],
        "values": [v.name for v in model.value_vars],
        "check_bounds": bool(model.check_bounds),
        "var_names": var_names,
        "versions": [
            platform.python_version(),
            *(version(p) for p in ("nutpie", "pymc", "pytensor", "numba", "llvmlite", "numpy")),
        ],
        "target": [str(x) for x in cpu_target.target_context.codegen().magic_tuple()],
    }


def _path(record: dict[str, Any]) -> Path:
    return disk_cache.cache_dir() / "compiled" / f"{disk_cache.sha256_key(record)}.model"


def _payload(compiled: CompiledPyMCModel) -> bytes:
    """The object code of both callbacks and the layout needed to use them."""
    blobs: list[bytes] = []
    libraries = []
    for attr in _LIBRARIES:
        callback = getattr(compiled, attr)
        library = callback._library
        if library.has_dynamic_globals:
            raise ValueError("the compiled code refers to objects of this process")
        name, kind, (obj, bitcode) = library.serialize_using_object_code()
        libraries.append({"name": name, "kind": kind, "symbol": callback.native_name})
        blobs += [obj, bitcode]
    names, slices, shapes = compiled.shape_info
    meta = {
        "libraries": libraries,
        "blobs": [len(b) for b in blobs],
        "n_dim": int(compiled.n_dim),
        "n_expanded": int(compiled.n_expanded),
        "names": list(names),
        "slices": [[int(s.start), int(s.stop)] for s in slices],
        "shapes": [[int(n) for n in shape] for shape in shapes],
        "shared": list(compiled.shared_data),
    }
    return json.dumps(meta).encode() + b"\n" + b"".join(blobs)


def _rebuild(model: pm.Model, payload: bytes, var_names: list[str] | None) -> CompiledPyMCModel:
    """A nutpie compiled model from an entry's payload and the (structurally equal) model."""
    from numba.core.registry import cpu_target
    from nutpie import compile_pymc as ncp
    from pymc.initial_point import make_initial_point_fn

    line, _, rest = payload.partition(b"\n")
    meta = json.loads(line)
    blobs, offset = [], 0
    for size in meta["blobs"]:
        blobs.append(rest[offset : offset + size])
        offset += size
    if offset != len(rest):
        raise ValueError("payload layout does not match its blobs")
    codegen = cpu_target.target_context.codegen()
    callbacks = [
        _Callback(
            codegen.unserialize_library(
                (lib["name"], lib["kind"], (blobs[2 * i], blobs[2 * i + 1]))
            ),
            lib["symbol"],
        )
        for i, lib in enumerate(meta["libraries"])
    ]
    shared = {}
    for name in meta["shared"]:
        value = np.array(model[name].get_value(), order="C", copy=True)
        value.flags.writeable = False
        shared[name] = value
    user_data = ncp.make_user_data(shared, shared)
    names = meta["names"]
    shapes = [tuple(s) for s in meta["shapes"]]
    shape_info = (names, [slice(a, b) for a, b in meta["slices"]], [np.array(s) for s in shapes])
    # as nutpie.compile_pymc_model does it (support points, jitter on every free variable)
    point_fn = ncp._wrap_with_lock(
        make_initial_point_fn(
            model=model,
            overrides=None,
            default_strategy="support_point",
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
    )
    free = len(model.free_RVs)
    point_fn = ncp._rv_dict_to_flat_array_wrapper(
        point_fn, names=names[:free], shapes=shapes[:free]
    )
    dims, coords = ncp._prepare_dims_and_coords(model, shape_info)
    return ncp.CompiledPyMCModel(
        _n_dim=meta["n_dim"],
        dims=dims,
        _coords=coords,
        _shapes=dict(zip(names, shapes, strict=True)),
        compiled_logp_func=callbacks[0],
        compiled_expand_func=callbacks[1],
        initial_point_func=point_fn,
        shared_data=shared,
        user_data=user_data,
        n_expanded=meta["n_expanded"],
        shape_info=shape_info,
        logp_func=None,
        expand_func=None,
    )


def compile_model(
    model: pm.Model, var_names: list[str] | None, progress: bool = False, label: str = "user"
) -> tuple[CompiledPyMCModel, bool]:
    """The nutpie compiled form of ``model``: from the disk cache when an entry for its
    structure exists, else compiled (and stored).

    Parameters
    ----------
    model : pymc.Model
    var_names : list of str or None
        Variables kept in the trace (``None``: all).
    progress : bool
        Say on standard error that a model is being compiled.
    label : str
        The model family named in that message.

    Returns
    -------
    (compiled model, loaded from disk)
    """
    import nutpie
    import pytensor.link.numba.cache  # noqa: F401  (random symbol ids: no clash between entries)

    record = _record(model, var_names)
    path = _path(record)
    try:
        entry = disk_cache.read_entry(path, _ENTRY_MAGIC, record, "model")
        if entry is not None:
            return _rebuild(model, entry[1], var_names), True
    except (OSError, ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        disk_cache.notice(f"compiled-model cache entry {path} unusable ({problem}); recompiling")
    if progress:
        note = f"compiling the {label} model (once per model on this machine)..."
        print(note, file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, var_names=var_names)
    try:
        payload = _payload(compiled)
        extra = {"compile_seconds": round(time.perf_counter() - t0, 3)}
        disk_cache.write_entry(path, _ENTRY_MAGIC, record, payload, extra)
    except OSError as exc:
        disk_cache.notice(
            f"compiled-model cache folder {path.parent} cannot be written "
            f"({exc.strerror or exc}); models are compiled again in each process"
        )
    except (ValueError, TypeError, RuntimeError) as exc:  # not storable: the fit goes on
        disk_cache.notice(f"compiled model not cached ({exc})")
    return compiled, False
