"""Quasi-static axisymmetric thermoelasticity (isotropic, small strain).

The constitutive law lives in :func:`stress` only: sigma = lambda tr(e - e*) I + 2 mu (e - e*), with the
eigenstrain e* = alpha theta I (thermal expansion; the Vegard strain of the ions adds to it later).
Scaled units: stresses in E_ref alpha_ref theta_ref, displacements in alpha_ref theta_ref length.
"""

from __future__ import annotations

import ufl

from stimsim.physics.axisymmetric import strain


def stress(strain_tensor, eigenstrain, lame_lambda, shear_modulus):
    """Isotropic Hooke's law for the elastic part of the strain, in (r, theta, z) components."""
    elastic = strain_tensor - eigenstrain
    return lame_lambda * ufl.tr(elastic) * ufl.Identity(3) + 2 * shear_modulus * elastic


def thermal_eigenstrain(theta, expansion):
    """Isotropic thermal strain alpha theta I."""
    return expansion * theta * ufl.Identity(3)


def stiffness(u, v, lame_lambda, shear_modulus, r, dx):
    """Bilinear form integral sigma(e(u)) : conj(e(v)) r dx."""
    zero = ufl.zero((3, 3))
    return ufl.inner(stress(strain(u, r), zero, lame_lambda, shear_modulus), strain(v, r)) * r * dx


def eigenstrain_load(eigenstrain, v, lame_lambda, shear_modulus, r, dx):
    """Linear form of an eigenstrain: integral (C : e*) : conj(e(v)) r dx (moved to the right side)."""
    zero = ufl.zero((3, 3))
    return -ufl.inner(stress(zero, eigenstrain, lame_lambda, shear_modulus), strain(v, r)) * r * dx
