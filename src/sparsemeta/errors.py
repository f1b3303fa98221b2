"""Exception and warning types raised by sparsemeta.

Every error a user can provoke with bad input is a :class:`SparsemetaError`; the
command line turns these into a one-line message and exit status 2.
"""

from __future__ import annotations


class SparsemetaError(Exception):
    """Base class of every error sparsemeta raises on purpose."""


class DataError(SparsemetaError, ValueError):
    """Invalid study data: the message names the study, the field and the problem."""


class RevManFormatError(DataError):
    """A RevMan file that cannot be read (malformed, truncated, hostile or unsupported)."""


class PriorError(SparsemetaError, ValueError):
    """An unknown prior name, bad prior parameters or a prior string that does not parse."""


class PlanError(SparsemetaError, ValueError):
    """An analysis plan (TOML) that is malformed or refers to something that does not exist."""


class DiagnosticsError(SparsemetaError, RuntimeError):
    """An MCMC fit failed the diagnostics gate in strict mode."""


class SingleStudyWarning(UserWarning):
    """A random-effects model fitted to one study: the data say nothing about tau."""


class DiagnosticsWarning(UserWarning):
    """An MCMC fit failed the diagnostics gate (divergences, R-hat or ESS)."""


class CacheWarning(UserWarning):
    """The on-disk cache of fits could not be used (an entry that fails verification is
    refitted) or written (the fit is returned all the same)."""
