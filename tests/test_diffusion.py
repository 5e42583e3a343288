"""Larché–Cahn diffusion forms: the driven 1D blocking-surface solution (docs/validation/verification.md), driven by
the stress or by the temperature through the heat of transport, mass conservation, and the second
Gateaux derivative of the flux against the hand-expanded quadratic terms."""

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from stimsim.physics.diffusion import DiffusionCoefficients, chemical_flux, storage, transport
from stimsim.solve.direct import DirectSolver

EPS_C = 0.04  # Omega sigma_s / (R T): the base concentration is 1/EPS_C in scaled units
#: Q* theta_s / (R T_amb^2) of the temperature-driven case: q c0 = 1, so a temperature theta1 drives the
#: ions as a stress s1 = -theta1 does (Q* > 0: toward the cold).
THERMOTRANSPORT = EPS_C


def driven_blocking_surface(omega_tau: float, drive: str = "stress"):
    """Solve i w c1 = -div J1 on z in [0, Z] (lengths in L, time in tau = L^2/D) for the imposed
    hydrostatic stress s1 = exp(-z/L) (``drive`` 'stress') or temperature theta1 = exp(-z/L)
    ('temperature', through the heat of transport; about theta0 = 0, with an activation energy and a
    temperature ratio that must not enter the first order), blocking at z = 0, c1 = 0 at z = Z.
    Returns (z, c1, exact)."""
    chemical_length = np.sqrt(2 / omega_tau)
    length = 30 * max(1.0, chemical_length)
    domain = mesh.create_interval(MPI.COMM_WORLD, 3000, [0.0, length])
    V = fem.functionspace(domain, ("Lagrange", 2))
    z = ufl.SpatialCoordinate(domain)[0]
    coefficients = DiffusionCoefficients(1.0, 0.3, EPS_C, 5.0, THERMOTRANSPORT)
    temperature, stress, concentration = fem.Function(V), fem.Function(V), fem.Function(V)
    imposed = fem.Function(V)
    imposed.interpolate(lambda x: np.exp(-x[0]))
    test, trial = ufl.TestFunction(V), ufl.TrialFunction(V)
    flux = chemical_flux(temperature, stress, concentration, coefficients, 1 / EPS_C)
    residual = transport(flux, test, 1.0, ufl.dx)
    omega = fem.Constant(domain, np.complex128(omega_tau))
    a = storage(1j * omega * trial, test, 1.0, ufl.dx) + ufl.derivative(residual, concentration, trial)
    L = -ufl.derivative(residual, stress if drive == "stress" else temperature, imposed)
    far = fem.locate_dofs_geometrical(V, lambda x: np.isclose(x[0], length))
    solver = DirectSolver(fem.form(a), [fem.dirichletbc(np.complex128(0), far, V)], "driven_1d")
    solver.factorize()
    c1 = fem.Function(V)
    solver.solve(fem.form(L), c1)
    solver.destroy()
    q = np.sqrt(1j * omega_tau)
    sign = 1 if drive == "stress" else -1
    exact = sign * (ufl.exp(-z) - q * ufl.exp(-q * z)) / (1 - 1j * omega_tau)
    return domain, c1, exact


def integral(domain, expression):
    local = fem.assemble_scalar(fem.form(expression * ufl.dx))
    return domain.comm.allreduce(local, op=MPI.SUM)


def value_at_surface(c1) -> complex:
    V = c1.function_space
    dofs = fem.locate_dofs_geometrical(V, lambda x: np.isclose(x[0], 0.0))
    owned = dofs[dofs < V.dofmap.index_map.size_local]
    return V.mesh.comm.allreduce(complex(c1.x.array[owned].sum()), op=MPI.SUM)


@pytest.mark.parametrize("drive", ["stress", "temperature"])
@pytest.mark.parametrize("omega_tau", [0.01, 0.1, 1.0, 10.0, 100.0])
def test_driven_blocking_surface_solution(omega_tau, drive):
    """The stress-driven profile c1 = (Omega c0 S/(R T)) [e^{-z/L} - sqrt(i w tau) e^{-q z}]/(1 - i w tau),
    and the thermotransport-driven one with Omega S/(R T) -> -Q* Theta/(R T^2)."""
    domain, c1, exact = driven_blocking_surface(omega_tau, drive)
    surface = (1 if drive == "stress" else -1) * (1 - np.sqrt(1j * omega_tau)) / (1 - 1j * omega_tau)
    computed = value_at_surface(c1)
    assert abs(computed - surface) / abs(surface) < 1e-2
    assert abs(np.degrees(np.angle(computed / surface))) < 1.0
    error = np.sqrt(abs(integral(domain, ufl.inner(c1 - exact, c1 - exact))))
    norm = np.sqrt(abs(integral(domain, ufl.inner(exact, exact))))
    assert error / norm < 1e-2


@pytest.mark.parametrize("omega_tau", [0.01, 1.0, 100.0])
def test_blocking_surface_conserves_mass(omega_tau):
    domain, c1, exact = driven_blocking_surface(omega_tau)
    total = integral(domain, c1)
    scale = integral(domain, abs(c1))
    assert abs(total) < 1e-6 * abs(scale)


@pytest.mark.parametrize("q", [0.0, 0.7 * EPS_C])
def test_second_derivative_of_flux_matches_hand_expansion(q):
    """-(1/4) F''[X1, X1] with X1 = (theta1, s1, c1) about a uniform base state reproduces the
    quadratic flux terms of docs/theory/harmonics.md, 'Perturbation orders':
    thermal activation, the 1/T factor and c1 grad s1; with thermotransport (q = Q* theta_s/(R T^2))
    also its 1/T^2 factor, c1 grad theta1 and the activation times its first-order flux."""
    domain = mesh.create_unit_square(MPI.COMM_WORLD, 6, 6)
    V = fem.functionspace(domain, ("Lagrange", 2))
    g, eps_t = 27.0, 0.02
    coefficients = DiffusionCoefficients(1.3, eps_t, EPS_C, g, q)
    theta, s, c = fem.Function(V), fem.Function(V), fem.Function(V)
    theta1, s1, c1 = (fem.Function(V) for _ in range(3))
    theta1.interpolate(lambda x: (1 + 0.5j) * np.sin(x[0] + 2 * x[1]))
    s1.interpolate(lambda x: (0.3 - 1j) * x[0] * x[1] ** 2 + 0.2)
    c1.interpolate(lambda x: (2 - 0.7j) * np.cos(3 * x[0]) * x[1])
    test = ufl.TestFunction(V)
    residual = transport(chemical_flux(theta, s, c, coefficients, 1 / EPS_C), test, 1.0, ufl.dx)
    pairs = ((theta, theta1), (s, s1), (c, c1))
    first = sum(ufl.derivative(residual, field, direction) for field, direction in pairs)
    hessian = sum(ufl.derivative(first, field, direction) for field, direction in pairs)
    d, soret = 1.3, q / EPS_C  # soret = q c0
    first_order_driving = ufl.grad(c1) - ufl.grad(s1) + soret * ufl.grad(theta1)
    by_hand = (
        d * g * eps_t * theta1 * (-1) * first_order_driving  # D(T): dD/dtheta = d g eps_T
        + d * (-eps_t * theta1) * ufl.grad(s1)  # 1/T: d(1/T)/dtheta = -eps_T, times eps_c c0 = 1
        + d * EPS_C * c1 * ufl.grad(s1)  # concentration nonlinearity
        - d * soret * (-2 * eps_t * theta1) * ufl.grad(theta1)  # 1/T^2: d(1/T^2)/dtheta = -2 eps_T
        - d * q * c1 * ufl.grad(theta1)  # concentration times the temperature gradient
    )
    expected = -2 * ufl.inner(by_hand, ufl.grad(test)) * ufl.dx
    difference = fem.assemble_vector(fem.form(hessian - expected)).array
    reference = fem.assemble_vector(fem.form(expected)).array
    assert np.linalg.norm(difference) < 1e-10 * np.linalg.norm(reference)
