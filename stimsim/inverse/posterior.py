"""Bayesian posterior of fitted parameters by emcee's affine-invariant ensemble sampler, walkers spread
over the MPI ranks.

The likelihood is Gaussian in the weighted residuals of :mod:`stimsim.inverse.fit` (the given sigmas; without
them the default relative sigmas scaled by the fit's reduced chi-square), the prior flat in the fit
variables (ln p for positive parameters) within the fit bounds. Walkers start in a Gaussian ball of
the least-squares covariance around the estimate. Each rank evaluates its share of the walkers with its
own copy of the model (on ``MPI.COMM_SELF``: the 2D meshes are small); the log-probabilities are
gathered, so every rank runs the same chain (seeded). emcee is an optional dependency
(``pip install 'stimsim[bayes]'``).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from stimsim.study.study import Study
from stimsim.core.errors import InputError, StimsimError
from stimsim.inverse.data import Data
from stimsim.inverse.fit import Transform, residuals
from stimsim.inverse.forward_model import ForwardModel, with_values


def posterior(study: Study, data: Data, result: dict, comm: MPI.Comm = MPI.COMM_WORLD, steps: int = 200,
              walkers: int | None = None, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Sample the posterior around a fit ``result`` (from :func:`stimsim.inverse.fit.fit`) for ``steps`` steps of
    ``walkers`` walkers (default 4 per parameter, at least 8, even). Returns (summary for fit.json,
    samples after the burn-in of half the steps, SI values, shape (samples, parameters))."""
    noise = 1.0 if data.sigma_given else result["reduced_chi2"]
    if noise is None:
        raise InputError(
            "--posterior", "needs the noise of the data: give amplitude_sigma_m (and phase_sigma_deg), or more data "
            "values than parameters (the scatter then sets it)"
        )
    try:
        import emcee
    except ImportError:
        raise InputError("--posterior", "needs the emcee package: pip install 'stimsim[bayes]'") from None
    if steps < 4:
        raise InputError("--posterior", f"= {steps} steps: use at least 4")
    names = list(result["parameters"])
    fitted = {p["key"]: p["value"] for p in result["parameters"].values()}
    transforms = [Transform(p["scale"] == "log", abs(p["start"]) or 1.0) for p in result["parameters"].values()]
    low = np.array([_x(t, p["bounds"][0], -np.inf) for t, p in zip(transforms, result["parameters"].values())])
    high = np.array([_x(t, p["bounds"][1], np.inf) for t, p in zip(transforms, result["parameters"].values())])
    model = ForwardModel(with_values(study, fitted), names, MPI.COMM_SELF, frequencies=sorted(set(data.frequency)))
    points = {point: i for i, point in enumerate(model.evaluate().points)}
    index = np.array([points[f, n] for f, n in zip(data.frequency, data.harmonic)])

    def log_probability(x):
        if np.any(x <= low) or np.any(x >= high):
            return -np.inf
        try:
            y = model.evaluate([t.to_p(v) for t, v in zip(transforms, x)]).displacement[index]
        except StimsimError:
            return -np.inf
        r = residuals(y, None, data)[0]
        return -0.5 * float(r @ r) / noise

    def batch(positions):  # the walkers of this rank, then everyone's values
        mine = {i: log_probability(x) for i, x in enumerate(positions) if i % comm.size == comm.rank}
        merged = {}
        for part in comm.allgather(mine):
            merged |= part
        return np.array([merged[i] for i in range(len(positions))])

    ndim = len(names)
    walkers = walkers or max(8, 4 * ndim + (4 * ndim) % 2)
    centre = np.array([t.to_x(v) for t, v in zip(transforms, (p["value"] for p in result["parameters"].values()))])
    spread = np.array([_spread(t, p) for t, p in zip(transforms, result["parameters"].values())])
    rng = np.random.default_rng(seed)
    start = np.clip(centre + spread * rng.standard_normal((walkers, ndim)), low + 1e-12, high - 1e-12)
    sampler = emcee.EnsembleSampler(walkers, ndim, batch, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    try:
        sampler.run_mcmc(start, steps, progress=False)
    finally:
        model.destroy()
    burn = steps // 2
    chain = sampler.get_chain(discard=burn, flat=True)
    samples = np.column_stack([t.to_p(chain[:, k]) for k, t in enumerate(transforms)])
    summary = {
        "walkers": walkers, "steps": steps, "burn_in": burn, "seed": seed,
        "acceptance_fraction": float(np.mean(sampler.acceptance_fraction)),
        "parameters": {
            name: {
                "median": float(np.median(samples[:, k])), "p16": float(np.percentile(samples[:, k], 16)),
                "p84": float(np.percentile(samples[:, k], 84)), "mean": float(samples[:, k].mean()),
                "std": float(samples[:, k].std()),
            }
            for k, name in enumerate(names)
        },
    }
    return summary, samples


def _x(transform: Transform, bound, unbounded: float) -> float:
    if bound is None or (transform.log and bound <= 0):
        return unbounded
    return float(transform.to_x(bound))


def _spread(transform: Transform, parameter: dict) -> float:
    """Initial spread of the walkers in the fit variable: the standard error (1e-3 if undetermined)."""
    if parameter["stderr"] is None or parameter["stderr"] == 0:
        return 1e-3
    return parameter["stderr"] / (parameter["value"] if transform.log else transform.scale)
