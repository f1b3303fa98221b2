# %% [markdown]
# # Reading a RevMan 5 file and checking every stored result
#
# Reads a RevMan 5 review (the bundled synthetic example, or the file given as the first
# argument), recomputes every outcome and subgroup with the file's own settings and compares
# each number with what the file stores. Exits 1 if anything does not reproduce.
# Run: ``python examples/revman_check.py [review.rm5]``.

# %%
import sys
from importlib import resources

import pandas as pd

from sparsemeta import io
from sparsemeta.review import check

path = (
    sys.argv[1]
    if len(sys.argv) > 1
    else resources.files("sparsemeta") / "examples_data" / "synthetic_sparse.rm5"
)

# %% Read: the study table of every analysis, the settings, RevMan's stored results
review = io.read_revman(path)
print(f"{review.title}: {len(review.analyses)} analyses, {len(review.studies)} study rows")
for analysis in review.analyses:
    print(f"  {analysis.label}: {analysis.method} {analysis.measure}, random={analysis.random}")

# %% Recompute and compare
report = check.revman_check(review)
table = pd.DataFrame([entry.to_dict() for entry in report.entries])
print(
    table[["analysis_id", "outcome", "subgroup", "status", "max_rel_diff", "field"]].to_string(
        index=False
    )
)
print(report.totals)
sys.exit(0 if report.ok else 1)
