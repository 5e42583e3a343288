"""Heat conduction in the frequency domain and the three tip/laser heat inputs (docs/theory/physics.md, 'Heat input').

Scaled balance, time factor e^{i w t}:  i w C theta + div(-k grad theta) = Q  in the body,
-k d(theta)/dn = -q on the heated surface, adiabatic elsewhere on the top, theta = 0 far away.
All forms are sesquilinear: the test function is conjugated. ``weight`` is the domain's integration
weight (r on an axisymmetric domain, 1 on a Cartesian one).
"""

from __future__ import annotations


import ufl

from stimsim.physics import laminate


def conductivity_at(theta, conductivity, slope):
    """k(theta) = k + k' theta, linear in the temperature rise (``slope`` k' in the same scaled units;
    0 or a number 0: constant k)."""
    if isinstance(slope, (int, float)) and slope == 0:
        return conductivity
    return conductivity + slope * theta


def conduction(theta, v, conductivity, weight, dx, across=None, normal=None):
    """Conduction term: integral k grad theta . conj(grad v) w dx (with k = k(theta) from
    :func:`conductivity_at` a form nonlinear in theta, the flux (k + k' theta) grad theta). With
    ``across`` (and the unit ``normal`` n) the conductivity is the laminate tensor k (I - n n^T) +
    k_across n n^T (:func:`stimsim.physics.laminate.apply`)."""
    if across is None:
        return conductivity * ufl.inner(ufl.grad(theta), ufl.grad(v)) * weight * dx
    return ufl.inner(laminate.apply(conductivity, across, normal, ufl.grad(theta)), ufl.grad(v)) * weight * dx


def storage(theta, v, heat_capacity, weight, dx):
    """Heat storage integral C theta conj(v) w dx (times i omega in the frequency domain)."""
    return heat_capacity * ufl.inner(theta, v) * weight * dx


def contact_exchange(theta, v, conductance_per_area, weight, ds_disk):
    """Robin term of a heater coupled through a contact conductance: integral h theta conj(v) w ds."""
    return conductance_per_area * ufl.inner(theta, v) * weight * ds_disk


def surface_heating(flux, v, weight, ds_heated):
    """Linear form of a surface heat flux: integral q conj(v) w ds."""
    return ufl.inner(flux, v) * weight * ds_heated


def volume_heating(source, v, weight, dx):
    """Linear form of a volumetric heat source: integral Q conj(v) w dx."""
    return ufl.inner(source, v) * weight * dx


def gaussian_profile(r, beam_radius):
    """Gaussian intensity shape exp(-2 r^2 / w^2) of a beam with 1/e^2 radius w (same units as r)."""
    return ufl.exp(-2 * r**2 / beam_radius**2)


def absorption_profile(z, absorption_length):
    """Beer-Lambert depth profile exp(z / delta) / delta for z <= 0 (same units as z)."""
    return ufl.exp(z / absorption_length) / absorption_length
