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
from stimsim.inverse.fit import JointModel, residuals
from stimsim.inverse.forward_model import with_values
from stimsim.inverse.results import Estimate, FitResult, Posterior, PosteriorEstimate


def posterior(study: Study, data: Data, result: FitResult, comm: MPI.Comm = MPI.COMM_WORLD, steps: int = 200,
              walkers: int | None = None, seed: int = 0) -> tuple[Posterior, np.ndarray]:
    """Sample the posterior around a fit ``result`` (from :func:`stimsim.inverse.fit.fit` of ``study``
    and ``data``) for ``steps`` steps of ``walkers`` walkers (default 4 per parameter, at least 8,
    even). Returns (summary, samples after the burn-in of half the steps, SI values, shape (samples,
    parameters))."""
    noise = result.noise_scale
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
    names, estimates = result.names, result.parameters
    transforms = [p.transform for p in estimates]
    low = np.array([_x(p, p.bounds[0], -np.inf) for p in estimates])
    high = np.array([_x(p, p.bounds[1], np.inf) for p in estimates])
    ndim = len(names)
    walkers = walkers or max(8, 4 * ndim + (4 * ndim) % 2)
    centre = np.array([t.to_x(p.value) for t, p in zip(transforms, estimates)])
    spread = np.array([p.stderr_x or 1e-3 for p in estimates])  # undetermined: 1e-3
    rng = np.random.default_rng(seed)
    start = np.clip(centre + spread * rng.standard_normal((walkers, ndim)), low + 1e-12, high - 1e-12)
    if not emcee.ensemble.walkers_independent(start):
        raise InputError(
            "--posterior", f"cannot start: walkers started within the standard errors of the fit (down to {min(spread):.2g} "
            "in the fit variables) about the estimate are not independent; data far smoother than their sigmas (noise-free?) "
            "leave no width to sample: give the measurement's sigmas"
        )
    model = JointModel(with_values(study, {p.key: p.value for p in estimates}), names, data, MPI.COMM_SELF)

    def log_probability(x):
        if np.any(x <= low) or np.any(x >= high):
            return -np.inf
        try:
            y = model.predict([t.to_p(v) for t, v in zip(transforms, x)])[0]
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

    sampler = emcee.EnsembleSampler(walkers, ndim, batch, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    try:
        sampler.run_mcmc(start, steps, progress=False)
    finally:
        model.destroy()
    burn = steps // 2
    chain = sampler.get_chain(discard=burn, flat=True)
    samples = np.column_stack([t.to_p(chain[:, k]) for k, t in enumerate(transforms)])
    summary = Posterior(
        parameters={
            name: PosteriorEstimate(
                median=float(np.median(samples[:, k])), p16=float(np.percentile(samples[:, k], 16)),
                p84=float(np.percentile(samples[:, k], 84)), mean=float(samples[:, k].mean()), std=float(samples[:, k].std()),
            )
            for k, name in enumerate(names)
        },
        acceptance_fraction=float(np.mean(sampler.acceptance_fraction)), walkers=walkers, steps=steps, burn_in=burn, seed=seed,
    )
    return summary, samples


def _x(estimate: Estimate, bound, unbounded: float) -> float:
    """The fit variable of a ``bound`` (SI) of ``estimate``; ``unbounded`` for an open one."""
    if bound is None or (estimate.scale == "log" and bound <= 0):
        return unbounded
    return float(estimate.transform.to_x(bound))
