"""Manufactured solutions for the complex axisymmetric heat and thermoelasticity forms.

Each exact solution is smooth and complex; the source is derived from it symbolically with UFL (the
axisymmetric divergence written out independently of the forms under test), the forms of
``stimsim.physics`` are solved on refined meshes of (r, z) in [0, 1] x [-1, 0], and the observed L2
convergence rate must match the polynomial degree + 1. Dirichlet data are imposed only on the far
side r = 1 and the bottom z = -1: the axis carries the symmetry conditions of the forms (natural for
theta and u_z, u_r = 0) and the top z = 0 a Robin heat exchange with a flux (heat) or the traction
sigma.n of the exact solution (thermoelasticity), so the boundary terms are checked too.
"""

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from stimsim.physics import heat, mechanics
from stimsim.geometry.domain import AxisymmetricDomain
from stimsim.solve.direct import DirectSolver

OMEGA, K, C = 3.0, 1.7, 0.8
LAMBDA, MU, ALPHA = 1.2, 0.9, 0.6


def exact_temperature(x):
    return (1 + 0.5j) * ufl.exp(-x[0] ** 2) * ufl.cos(1.3 * x[1]) + 0.3j * x[0] ** 2 * x[1]


def exact_displacement(x):
    return ufl.as_vector(
        [(0.7 - 0.2j) * x[0] * ufl.sin(x[1] + 0.4) * (1 + x[0]), (0.5 + 1j) * ufl.cos(x[0] ** 2) * ufl.exp(x[1])]
    )


def unit_rectangle(n):
    return mesh.create_rectangle(MPI.COMM_WORLD, [[0.0, -1.0], [1.0, 0.0]], [n, n])


def boundary_dofs(V, marker):
    domain = V.mesh
    domain.topology.create_connectivity(1, 2)
    return fem.locate_dofs_topological(V, 1, mesh.locate_entities_boundary(domain, 1, marker))


def far_and_bottom(x):
    return np.isclose(x[0], 1.0) | np.isclose(x[1], -1.0)


def top_measure(domain):
    facets = mesh.locate_entities_boundary(domain, 1, lambda x: np.isclose(x[1], 0.0))
    tags = mesh.meshtags(domain, 1, np.sort(facets), np.full(len(facets), 1, dtype=np.int32))
    return ufl.Measure("ds", domain=domain, subdomain_data=tags, metadata={"quadrature_degree": 8})(1)


def l2_error(uh, exact, degree=8):
    dx = ufl.dx(metadata={"quadrature_degree": degree})
    r = ufl.SpatialCoordinate(uh.function_space.mesh)[0]
    local = fem.assemble_scalar(fem.form(ufl.inner(uh - exact, uh - exact) * r * dx))
    return np.sqrt(abs(MPI.COMM_WORLD.allreduce(local, op=MPI.SUM)))


def solve_heat(n, degree):
    domain = unit_rectangle(n)
    V = fem.functionspace(domain, ("Lagrange", degree))
    x = ufl.SpatialCoordinate(domain)
    r = x[0]
    theta_e = exact_temperature(x)
    source = 1j * OMEGA * C * theta_e - (r * K * theta_e.dx(0)).dx(0) / r - (K * theta_e.dx(1)).dx(1)
    dx = AxisymmetricDomain(domain, quadrature_degree=8).dx
    theta, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    omega = fem.Constant(domain, np.complex128(OMEGA))
    top = top_measure(domain)
    exchange = 2.5
    flux = K * theta_e.dx(1) + exchange * theta_e  # k d(theta)/dn = flux - h theta on the top
    a = 1j * omega * heat.storage(theta, v, C, r, dx) + heat.conduction(theta, v, K, r, dx)
    a += heat.contact_exchange(theta, v, exchange, r, top)
    L = heat.volume_heating(source, v, r, dx) + heat.surface_heating(flux, v, r, top)
    boundary = fem.Function(V)
    boundary.interpolate(fem.Expression(theta_e, V.element.interpolation_points))
    bc = fem.dirichletbc(boundary, boundary_dofs(V, far_and_bottom))
    solution = fem.Function(V)
    solver = DirectSolver(fem.form(a), [bc], "mms_heat")
    solver.factorize()
    solver.solve(fem.form(L), solution)
    solver.destroy()
    return l2_error(solution, theta_e)


def axisymmetric_divergence(sigma, r):
    """div sigma in cylindrical components for an axisymmetric (r, theta, z) stress tensor."""
    return ufl.as_vector(
        [
            sigma[0, 0].dx(0) + sigma[0, 2].dx(1) + (sigma[0, 0] - sigma[1, 1]) / r,
            sigma[0, 2].dx(0) + sigma[2, 2].dx(1) + sigma[0, 2] / r,
        ]
    )


def solve_elasticity(n, degree):
    domain = unit_rectangle(n)
    V = fem.functionspace(domain, ("Lagrange", degree, (2,)))
    x = ufl.SpatialCoordinate(domain)
    r = x[0]
    u_e, theta_e = exact_displacement(x), exact_temperature(x)
    grad = ufl.grad(u_e)
    eps_e = ufl.as_tensor(
        [[grad[0, 0], 0, 0.5 * (grad[0, 1] + grad[1, 0])], [0, u_e[0] / r, 0], [0.5 * (grad[0, 1] + grad[1, 0]), 0, grad[1, 1]]]
    )
    elastic = eps_e - ALPHA * theta_e * ufl.Identity(3)
    sigma_e = LAMBDA * ufl.tr(elastic) * ufl.Identity(3) + 2 * MU * elastic
    body_force = -axisymmetric_divergence(sigma_e, r)
    geometry = AxisymmetricDomain(domain, quadrature_degree=8)
    dx = geometry.dx
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = mechanics.stiffness(u, v, LAMBDA, MU, geometry)
    eigen = mechanics.thermal_eigenstrain(theta_e, ALPHA)
    traction = ufl.as_vector([sigma_e[0, 2], sigma_e[2, 2]])  # sigma.n with n = e_z on the top
    L = mechanics.eigenstrain_load(eigen, v, LAMBDA, MU, geometry) + ufl.inner(body_force, v) * r * dx
    L += ufl.inner(traction, v) * r * top_measure(domain)
    boundary = fem.Function(V)
    boundary.interpolate(fem.Expression(u_e, V.element.interpolation_points))
    axis = boundary_dofs(V.sub(0), lambda x: np.isclose(x[0], 0.0))
    bcs = [fem.dirichletbc(boundary, boundary_dofs(V, far_and_bottom)), fem.dirichletbc(np.complex128(0), axis, V.sub(0))]
    solution = fem.Function(V)
    solver = DirectSolver(fem.form(a), bcs, "mms_elasticity")
    solver.factorize()
    solver.solve(fem.form(L), solution)
    solver.destroy()
    return l2_error(solution, u_e)


def observed_rates(errors):
    return [np.log2(e0 / e1) for e0, e1 in zip(errors[:-1], errors[1:])]


@pytest.mark.parametrize("solve", [solve_heat, solve_elasticity], ids=["heat", "thermoelasticity"])
@pytest.mark.parametrize("degree", [1, 2])
def test_manufactured_solution_converges_at_optimal_rate(solve, degree):
    errors = [solve(n, degree) for n in (4, 8, 16, 32)]
    rates = observed_rates(errors)
    assert errors[-1] < 1e-2 / degree**3
    assert rates[-1] == pytest.approx(degree + 1, abs=0.15), rates
