"""The Bayesian branch: τ and μ priors, the exact (quadrature) engine, PyMC model builders,
sampling with its diagnostics gate, and prior-sensitivity comparisons."""
