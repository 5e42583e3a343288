"""The laminate rule of the cells that grain-boundary planes cut (stimsim.study.grains.laminate_normals,
harmonic_mean; stimsim.physics.laminate; docs/theory/physics.md 'Grain boundaries'): such a cell
conducts heat and ions like its layers, in parallel along them (the arithmetic volume-fraction mean)
and in series across them (the harmonic mean). Checked against the exact fractions of a cut
tetrahedron, against the series and parallel conductances of a slab on a mesh that does not resolve it
(where the arithmetic rule of every direction leaks through a blocking core), and on a study's
coefficient fields, updated in place. Mesh convergence at the 3D defaults:
docs/validation/verification.md ('Grain boundaries')."""

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from dolfinx.fem.petsc import LinearProblem
from mpi4py import MPI

from stimsim.geometry.meshes import load_domain, mesh_spec
from stimsim.physics import diffusion, heat
from stimsim.study.grains import GrainBoundary, harmonic_mean, laminate_normals, region_weights
from stimsim.study.load import study_from_dict

#: The corner tetrahedron of 3 nm edges (as tests/test_grains.py): x < 1 nm holds 19/27 of it.
TETRAHEDRON = np.array([[[0.0, 0, 0], [3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]]]) * 1e-9


def plane(x=0.0, normal=(1.0, 0.0), width=2e-9, core=None):
    """A GrainBoundary through (x, 0) (materials are not needed for the geometry)."""
    return GrainBoundary(point=(x, 0.0), normal=normal, width=width, core=core)


def test_a_cut_tetrahedron_is_a_laminate_with_the_exact_means():
    """Core |x| < 1 nm over the corner tetrahedron: 8/27 sample (x > 1 nm), 19/27 core. With the core 100
    times as diffusive: along 1 (8/27) + 100 (19/27) = 70.67, across 1/(8/27 + 0.19/27) = 3.30 (the
    arithmetic rule gives 70.67 in every direction); with a blocking core (D/100) across 0.0140 (the
    arithmetic rule: 0.30)."""
    normals, laminate = laminate_normals([plane()], TETRAHEDRON)
    assert laminate[0] and np.allclose(normals[0], [1.0, 0.0])
    weights = region_weights([plane()], TETRAHEDRON)  # (sample, core)
    for core, across in [(100.0, 1 / (8 / 27 + 19 / 27 / 100)), (0.01, 1 / (8 / 27 + 19 / 27 * 100))]:
        assert harmonic_mean(weights, [1.0, core])[0] == pytest.approx(across, rel=2e-3)  # the knot shift: 1e-4
    # a zero-diffusivity layer blocks; a region the cell does not hold does not
    assert harmonic_mean(np.array([[0.3, 0.7], [1.0, 0.0]]), [1.0, 0.0]).tolist() == [0.0, 1.0]


def test_uncut_and_crossed_cells_are_not_laminates():
    """A tetrahedron inside the core or outside it holds one region (isotropic); two parallel planes
    over one cell make one laminate; crossing ones do not (the cell keeps the arithmetic mean, the
    Wiener upper bound)."""
    inside = TETRAHEDRON / 10  # 0.3 nm: inside the 2 nm core
    outside = TETRAHEDRON + np.array([5e-9, 0, 0])
    _, laminate = laminate_normals([plane()], np.concatenate([inside, outside]))
    assert not laminate.any()
    parallel = [plane(), plane(x=2.5e-9, width=1e-9)]
    normals, laminate = laminate_normals(parallel, TETRAHEDRON)
    assert laminate[0] and np.allclose(normals[0], [1.0, 0.0])
    flipped = [plane(), plane(x=2.5e-9, normal=(-1.0, 0.0), width=1e-9)]
    assert laminate_normals(flipped, TETRAHEDRON)[1][0]
    crossing = [plane(), plane(normal=(0.0, 1.0))]
    normals, laminate = laminate_normals(crossing, TETRAHEDRON)
    assert not laminate[0] and np.allclose(normals[0], 0.0)


#: The slab problem: unit cube, N cells per edge (layers of cells 0.1 thick), a core of width W at
#: [CORE, CORE + W] inside the cell layer [0.4, 0.5] (no mesh plane through it, no cell inside it).
N, CORE, W = 10, 0.42, 0.04


def _slab_conductance(equation: str, ratio: float, direction: int, laminate: bool) -> float:
    """The conductance of the unit cube between its faces normal to ``direction`` (0: x, across the
    core; 1: y, along it) at unit potential difference, the core ``ratio`` times as conductive as the
    rest, its cells holding the arithmetic mean (``laminate`` False) or the laminate tensor; P1, steady:
    ``equation`` 'heat' (:func:`stimsim.physics.heat.conduction`) or 'diffusion' (the linearised
    :func:`stimsim.physics.diffusion.chemical_flux` of a neutral species, no stress, no heating)."""
    domain = mesh.create_unit_cube(MPI.COMM_WORLD, N, N, N)
    boundary = GrainBoundary(point=(CORE + W / 2, 0.0), normal=(1.0, 0.0), width=W, core=None)
    geometry = domain.geometry
    vertices = geometry.x[geometry.dofmaps[0]]
    weights = region_weights([boundary], vertices)
    normals, cut = laminate_normals([boundary], vertices)
    dg0 = fem.functionspace(domain, ("DG", 0))
    along, across = fem.Function(dg0), fem.Function(dg0)
    along.x.array[:] = weights @ np.array([1.0, ratio])
    across.x.array[:] = np.where(cut, harmonic_mean(weights, [1.0, ratio]), along.x.array.real)
    normal = fem.Function(fem.functionspace(domain, ("DG", 0, (3,))))
    normal.x.array[:] = np.column_stack([normals, np.zeros(len(normals))]).ravel()
    V = fem.functionspace(domain, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    tensor = (across, normal) if laminate else (None, None)
    if equation == "heat":
        a = heat.conduction(u, v, along, 1.0, ufl.dx, *tensor)
    else:
        c, rest = fem.Function(V), fem.Function(V)  # the base state: zero excess, no heating, no stress
        coefficients = diffusion.DiffusionCoefficients(along, 0.0, 0.0, 0.0, 0.0, None, *tensor)
        residual = diffusion.transport(diffusion.chemical_flux(rest, rest, c, coefficients, 1.0), v, 1.0, ufl.dx)
        a = ufl.derivative(residual, c, u)  # -J . grad v with J = -D grad c: the operator of -div(D grad c) = 0
    facets = mesh.locate_entities_boundary(domain, 2, lambda p: np.isclose(p[direction], 0) | np.isclose(p[direction], 1))
    dofs = fem.locate_dofs_topological(V, 2, facets)
    imposed = fem.Function(V)
    imposed.interpolate(lambda p: 1.0 - p[direction])
    bc = fem.dirichletbc(imposed, dofs)
    zero = ufl.inner(fem.Constant(domain, 0j), v) * ufl.dx
    solution = LinearProblem(a, zero, bcs=[bc], petsc_options_prefix="laminate_slab_",
                             petsc_options={"ksp_type": "preonly", "pc_type": "lu"}).solve()
    # the flux through the far face from the energy: sum over the cells of grad u . K grad u = G (at unit drop)
    energy = fem.form(ufl.replace(a, {u: solution, v: solution}))
    return domain.comm.allreduce(fem.assemble_scalar(energy), op=MPI.SUM).real


@pytest.mark.parametrize("equation", ["heat", "diffusion"])
def test_an_unresolved_slab_conducts_like_the_laminate(equation):
    """A core 0.04 thick inside a layer of cells 0.1 thick (every tetrahedron of the layer is cut, by
    different fractions): across it the exact conductance is the series one, 1/(0.96 + 0.04/r), along it
    the parallel one, 0.96 + 0.04 r. Measured (P1, 6 000 tetrahedra, both equations alike): a fast core
    (r = 100) across 1.0412 exact, laminate 1.0444 (+0.31 %), arithmetic 1.1081 (+6.4 %: the cut cells
    short the grain beside the core); a blocking one (r = 1/100) across 0.2016 exact, laminate 0.2290
    (+13.6 %: the least-cut tetrahedra still leak, each cell's harmonic mean is exact only for layers
    of uniform thickness across it), arithmetic 0.9383 (4.7 times, almost no core at all: 1.0); along a
    fast core 4.96, both rules (their values along are the same arithmetic means) to 1.2e-5 (the volume
    fractions' knot shift). At 5 and 20
    cells per edge: laminate +0.54 % and +1.6 % (fast), +96 % and +52 % (blocking), arithmetic +18 % and
    +6.3 %, +372 % and +356 %."""
    for ratio, tolerance in [(100.0, 0.01), (0.01, 0.2)]:
        exact = 1 / (0.96 + 0.04 / ratio)
        laminate = _slab_conductance(equation, ratio, 0, True)
        arithmetic = _slab_conductance(equation, ratio, 0, False)
        assert laminate == pytest.approx(exact, rel=tolerance), ratio
        assert arithmetic > exact * (1 + 3 * tolerance), ratio  # the arithmetic rule fails this check
    parallel = 0.96 + 0.04 * 100.0
    assert _slab_conductance(equation, 100.0, 1, True) == pytest.approx(parallel, rel=1e-4)  # knot shift: 1.2e-5


def test_a_studys_cut_cells_hold_the_laminate_and_update_in_place():
    """The coefficient fields of a 3D study with a 4 nm core x = 0 ten times as diffusive and half as
    conductive as SDC: cut cells hold the arithmetic mean along, the harmonic one across and the normal
    (1, 0, 0); other cells the same value both ways and no normal. A new core diffusivity (the in-place
    update of sweeps and fits) rewrites the values across; the normal stays."""
    from stimsim.fem.coefficients import Coefficients, scales_for

    def raw(diffusivity):
        return {
            "sample": {"material": "SDC", "properties": {"diffusivity": 4e-10}},
            "geometry": {"model": "3d", "grain_boundaries": [
                {"point": [0.0, 0.0], "normal": [1.0, 0.0], "width": 4e-9,
                 "properties": {"diffusivity": diffusivity, "thermal_conductivity": 1.0}}]},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [1e5]},
            "mesh": {"refinement": 0.15},
        }

    study = study_from_dict(raw(4e-9))
    domain = load_domain(mesh_spec(study), MPI.COMM_WORLD)
    scales = scales_for(study)
    k = Coefficients(study, domain, scales, fem.functionspace(domain.mesh, ("Lagrange", 2)))
    w, cut = k.region_weights, k.laminate
    assert MPI.COMM_WORLD.allreduce(int(np.count_nonzero(cut))) > 0
    normal = k.fields["laminate_normal"].x.array.real.reshape(-1, 3)
    assert np.allclose(normal[cut], [1.0, 0.0, 0.0]) and np.allclose(normal[~cut], 0.0)
    sdc = study.sample.material
    for core in (10.0, 0.01):
        if core != 10.0:
            k.update(study_from_dict(raw(core * 4e-10)))
        for name, values in [("diffusivity", [1.0, core]), ("conductivity", [1.0, 1.0 / sdc.thermal_conductivity])]:
            along, across = (k.fields[name + suffix].x.array.real for suffix in ("", "_across"))
            assert np.allclose(along, w @ values)
            assert np.allclose(across[cut], 1 / (w[cut] @ (1 / np.array(values))))
            assert np.array_equal(across[~cut], along[~cut])
    assert np.allclose(k.fields["laminate_normal"].x.array.real.reshape(-1, 3), normal)
