"""The coupled chemo-mechanical forms against the stress-enhanced diffusivity of a laterally constrained
layer (Zhang, Shyy & Sastry, J. Electrochem. Soc. 154 (2007) A910;
docs/validation/verification.md, 'Stress-enhanced diffusivity')."""

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from stimsim.geometry.domain import AxisymmetricDomain
from stimsim.physics.coupled import CONCENTRATION, DISPLACEMENT, STRESS, TEMPERATURE, static_residual, storage
from stimsim.solve.direct import DirectSolver

NU, EPS_C = 0.3, 0.05


def constrained_layer(vegard: float, omega: float, depth: float = 30.0):
    """Column (r, z) in [0, 0.5] x [-depth, 0] with rollers on both sides (u_r = 0), clamped bottom,
    traction-free top, c1 = 1 imposed at the top and 0 at the bottom; scaled units with E = 1 and
    lengths in sqrt(D / omega)-free units (D = 1). Returns the mesh and c1."""
    domain = mesh.create_rectangle(MPI.COMM_WORLD, [[0.0, -depth], [0.5, 0.0]], [2, 1200])
    geometry = AxisymmetricDomain(domain, quadrature_degree=6)
    spaces = {
        DISPLACEMENT: fem.functionspace(domain, ("Lagrange", 2, (2,))),
        STRESS: fem.functionspace(domain, ("Lagrange", 2)),
        CONCENTRATION: fem.functionspace(domain, ("Lagrange", 2)),
    }
    base = {name: fem.Function(V) for name, V in spaces.items()}
    fields = base | {TEMPERATURE: fem.Constant(domain, 0j)}
    tests = {name: ufl.TestFunction(V) for name, V in spaces.items()} | {TEMPERATURE: None}
    trials = {name: ufl.TrialFunction(V) for name, V in spaces.items()}
    k = {
        "conductivity": 1.0, "expansion": 0.0, "heat_capacity": 1.0,
        "lame_lambda": NU / ((1 + NU) * (1 - 2 * NU)), "shear_modulus": 1 / (2 * (1 + NU)),
        "vegard": vegard, "diffusivity": 1.0, "stress_coupling": EPS_C, "activation": 0.0,
        "temperature_ratio": 0.0, "mobile": 1.0, "equilibrium": fem.Constant(domain, np.complex128(1 / EPS_C)),
    }
    residual = static_residual(fields, tests | {TEMPERATURE: ufl.TestFunction(spaces[STRESS])}, k, geometry)
    stored = storage({TEMPERATURE: trials[STRESS]} | trials, tests | {TEMPERATURE: ufl.TestFunction(spaces[STRESS])}, k, geometry)
    names = [DISPLACEMENT, STRESS, CONCENTRATION]
    blocks = [
        [ufl.derivative(residual[i], base[j], trials[j]) + (1j * omega * stored[i] if i == j == CONCENTRATION else 0) for j in names]
        for i in names
    ]
    domain.topology.create_connectivity(1, 2)

    def dofs(V, marker):
        return fem.locate_dofs_topological(V, 1, mesh.locate_entities_boundary(domain, 1, marker))

    sides = lambda x: np.isclose(x[0], 0.0) | np.isclose(x[0], 0.5)  # noqa: E731
    bottom = lambda x: np.isclose(x[1], -depth)  # noqa: E731
    top = lambda x: np.isclose(x[1], 0.0)  # noqa: E731
    V_u, V_c = spaces[DISPLACEMENT], spaces[CONCENTRATION]
    zero = np.complex128(0)
    bcs = [
        fem.dirichletbc(zero, dofs(V_u.sub(0), sides), V_u.sub(0)),
        fem.dirichletbc(np.zeros(2, dtype=np.complex128), dofs(V_u, bottom), V_u),
        fem.dirichletbc(np.complex128(1), dofs(V_c, top), V_c),
        fem.dirichletbc(zero, dofs(V_c, bottom), V_c),
    ]
    solver = DirectSolver(fem.form(blocks), bcs, "constrained_layer")
    solver.factorize()
    solution = {name: fem.Function(V) for name, V in spaces.items()}
    rhs = [fem.form(ufl.ZeroBaseForm((ufl.TestFunction(spaces[n]),))) for n in names]
    solver.solve(rhs, [solution[n] for n in names])
    solver.destroy()
    return domain, solution


def profile_error(domain, c1, diffusivity: float, omega: float) -> float:
    z = ufl.SpatialCoordinate(domain)[1]
    exact = ufl.exp(np.sqrt(1j * omega / diffusivity) * z)
    local = [fem.assemble_scalar(fem.form(f * ufl.dx)) for f in (ufl.inner(c1 - exact, c1 - exact), ufl.inner(exact, exact))]
    error, norm = (domain.comm.allreduce(v, op=MPI.SUM) for v in local)
    return float(np.sqrt(abs(error) / abs(norm)))


@pytest.mark.parametrize("vegard", [0.5, 2.0])
def test_stress_enhanced_diffusivity_of_a_constrained_layer(vegard):
    """sigma_h = -(2 E Omega / (9 (1 - nu))) c1 in the layer, so D_eff = D (1 + 2 E chi / (3 (1 - nu))) in
    the scaled units (chi = Omega c_s / 3 per unit strain, E = 1, Omega c0 / (R T) sigma_s / c_s = 1)."""
    omega = 1.0
    enhancement = 1 + 2 * vegard / (3 * (1 - NU))
    domain, solution = constrained_layer(vegard, omega)
    assert profile_error(domain, solution[CONCENTRATION], enhancement, omega) < 1e-2
    assert profile_error(domain, solution[CONCENTRATION], 1.0, omega) > 0.1  # the enhancement is visible
    stress_ratio = solution[STRESS].x.array / np.where(solution[CONCENTRATION].x.array == 0, 1, solution[CONCENTRATION].x.array)
    interior = np.abs(solution[CONCENTRATION].x.array) > 1e-3
    assert np.allclose(stress_ratio[interior], -2 * vegard / (3 * (1 - NU)), rtol=1e-3, atol=0)
