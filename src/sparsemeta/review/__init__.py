"""The review layer: analysis plans, reproducing a review, checks against published and stored
results, findings, and batch re-analysis of many files."""
