"""Quasi-static thermoelasticity (isotropic, small strain) on any :mod:`stimsim.geometry.domain` domain.

The constitutive law lives in :func:`stress` only: sigma = lambda tr(e - e*) I + 2 mu (e - e*), with the
eigenstrain e* = (alpha theta + alpha' theta^2/2) I + (Omega/3)(c - c0) I (thermal expansion, with
alpha(T) = alpha + alpha' theta, and Vegard strain).
Scaled units: stresses in E_ref alpha_ref theta_ref, displacements in alpha_ref theta_ref length.
"""

from __future__ import annotations

import ufl


def stress(strain_tensor, eigenstrain, lame_lambda, shear_modulus):
    """Isotropic Hooke's law for the elastic part of the strain, in (r, theta, z) components."""
    elastic = strain_tensor - eigenstrain
    return lame_lambda * ufl.tr(elastic) * ufl.Identity(3) + 2 * shear_modulus * elastic


def thermal_eigenstrain(theta, expansion, slope=0):
    """Isotropic thermal strain (integral of alpha(T) dT from T_amb) I = (alpha theta + alpha' theta^2 / 2) I
    for alpha(T) = alpha + alpha' theta (``slope`` alpha', 0 or a number 0: constant alpha)."""
    if isinstance(slope, (int, float)) and slope == 0:
        return expansion * theta * ufl.Identity(3)
    return (expansion * theta + slope * theta**2 / 2) * ufl.Identity(3)


def vegard_eigenstrain(c, c_reference, vegard):
    """Isotropic Vegard strain (Omega/3)(c - c_ref) I, with ``vegard`` = Omega/3 in the scaled units."""
    return vegard * (c - c_reference) * ufl.Identity(3)


def bulk_modulus(lame_lambda, shear_modulus):
    """K = lambda + 2 mu / 3."""
    return lame_lambda + 2 * shear_modulus / 3


def hydrostatic_stress(u, eigenstrain, lame_lambda, shear_modulus, domain):
    """sigma_h = tr(sigma)/3 = K (tr e(u) - tr e*)."""
    return bulk_modulus(lame_lambda, shear_modulus) * (ufl.tr(domain.strain(u)) - ufl.tr(eigenstrain))


def stiffness(u, v, lame_lambda, shear_modulus, domain):
    """Bilinear form integral sigma(e(u)) : conj(e(v)) w dx (w: the domain's weight)."""
    zero = ufl.zero((3, 3))
    strain = domain.strain
    return ufl.inner(stress(strain(u), zero, lame_lambda, shear_modulus), strain(v)) * domain.weight * domain.dx


def eigenstrain_load(eigenstrain, v, lame_lambda, shear_modulus, domain):
    """Linear form of an eigenstrain: integral (C : e*) : conj(e(v)) w dx (moved to the right side)."""
    zero = ufl.zero((3, 3))
    strain = domain.strain
    return -ufl.inner(stress(zero, eigenstrain, lame_lambda, shear_modulus), strain(v)) * domain.weight * domain.dx
