"""Semi-analytic reference solutions: surface heating of a half-space or of a film on a substrate.

Used by the verification tests and benchmarks. Pure numpy/scipy, SI units throughout, time factor
e^{iωt}: every returned value is a complex amplitude (temperature in K, displacement in m).

Conventions
-----------
The sample occupies z > 0 below the free surface z = 0. A periodic heat flux of total power P
enters through the surface; the rest of the surface is adiabatic. With the Hankel pair

    f̃(λ) = ∫₀^∞ f(r) J₀(λr) r dr,    f(r) = ∫₀^∞ f̃(λ) J₀(λr) λ dλ,

a half-space has θ̃(λ, z) = S̃(λ) e^{−βz} / (kβ), with q = √(iω/κ), β(λ) = √(λ² + q²), Re β > 0
(ω = 0 gives β = λ). A surface response with kernel G(λ) (surface response per unit transformed
flux), averaged with a normalised receiver weight R̃(λ), is

    ∫₀^∞ S̃(λ) G(λ) R̃(λ) λ dλ,

and every response below is this one integral with particular pieces (x = λa, a contact radius):

* sources: uniform disk S̃ = P J₁(λa)/(πaλ); Gaussian spot of 1/e² radius w,
  S̃ = (P/2π) exp(−λ²w²/8);
* receivers over the contact disk: "uniform" R̃ = 2J₁(x)/x, "hertz" (weight √(1 − r²/a²))
  R̃ = 3(sin x − x cos x)/x³, "centre" (the point r = 0) R̃ = 1;
* kernels: half-space temperature G = 1/(kβ); outward normal surface displacement of a
  traction-free half-space in quasi-static uncoupled thermoelasticity,
  ũ_z(λ, 0) = 2(1+ν)α ∫₀^∞ θ̃ e^{−λz} dz, i.e. G = 2(1+ν)α/(kβ(β+λ)); a film of thickness h on a
  half-space substrate (perfect thermal contact, common elastic constants) in closed form.

The steady displacement diverges logarithmically (λ → 0), so displacement functions need ω > 0.
For a thermal length μ = √(2κ/ω) ≫ a the disk-averaged half-space displacement of a disk source is
(1+ν)αP/(2πk) (ln(μ/a) + c) with c = (3/2) ln 2 − γ − 1/4 − iπ/4 ≈ 0.2125 − 0.7854i (the centre
value has c + 1/4 ≈ 0.4625 − 0.7854i); this follows from the mean log distance −1/4 (in units of
a) between two points of a disk.

Quadrature
----------
On [0, X] in x, X = max(2, 2|q|a) (which keeps the thermal-wave feature x ≈ |q|a there), the
integrand is integrated along the real axis by vectorised adaptive Gauss-Legendre bisection, seeded
with break points at multiples of π and at the feature scales |q|a, a/h, a/w. Beyond X each
oscillating factor is split exactly into non-oscillating envelopes times e^{±ix}
(J₁ = (H₁⁽¹⁾ + H₁⁽²⁾)/2 through the exponentially scaled Hankel functions; sin and cos likewise).
Terms with e^{imx}, m ≠ 0, are integrated along the rays x = X + t e^{±iπ/4}, where they decay
like e^{−|m|t/√2}. This contour shift is exact: in the sectors between the rays and the real axis
Re x² ≥ X² > 0, so Re(x² + q²a²) > 0, β has no branch point, |Γ| < 1 for the film, and the
Gaussian stays bounded. The m = 0 terms are integrated along the real axis with x = X/u. Each
piece is converged to a relative 1e-10.

References
----------
H. S. Carslaw and J. C. Jaeger, Conduction of Heat in Solids, 2nd ed., Clarendon Press,
    Oxford (1959): periodic and steady surface sources on a half-space, steady disk-source
    temperatures P/(πka) at the centre and 8P/(3π²ka) averaged over the disk.
J. Opsal, A. Rosencwaig and D. L. Willenborg, "Thermal-wave detection and thin-film thickness
    measurements with laser beam deflection", Appl. Opt. 22 (1983) 3169: thermoelastic surface
    displacement of a traction-free half-space heated by a modulated source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special

__all__ = [
    "Layer",
    "disk_temperature_field",
    "film_displacement",
    "film_temperature",
    "gaussian_halfspace_displacement",
    "gaussian_halfspace_temperature",
    "halfspace_displacement",
    "halfspace_temperature",
    "steady_centre_temperature",
    "squared_temperature_centre_displacement",
    "steady_disk_average_temperature",
    "thermal_length",
]

Function = Callable[[np.ndarray], np.ndarray]

_RTOL = 1e-10  # relative tolerance of each quadrature
_MAX_BISECTIONS = 60
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_RAY_DIRECTION = np.exp(0.25j * math.pi)
_RAY_DECAY = 45.0  # each ray ends where |e^{imx}| has fallen to e^{-45}


@dataclass(frozen=True)
class Layer:
    """Thermal properties of one layer.

    Parameters
    ----------
    conductivity : thermal conductivity k, W/(m K).
    diffusivity : thermal diffusivity κ = k/(ρ c_p), m²/s.
    expansion : linear thermal expansion coefficient α, 1/K.
    """

    conductivity: float
    diffusivity: float
    expansion: float = 0.0


# ----------------------------------------------------------------------------------------------
# Closed forms
# ----------------------------------------------------------------------------------------------


def thermal_length(diffusivity: float, omega: float) -> float:
    """Thermal diffusion length μ = √(2κ/ω) in m (infinite for ω = 0).

    Parameters
    ----------
    diffusivity : thermal diffusivity κ, m²/s.
    omega : angular frequency ω ≥ 0, rad/s.
    """
    _check_positive(diffusivity=diffusivity)
    _check_frequency(omega)
    return math.inf if omega == 0 else math.sqrt(2.0 * diffusivity / omega)


def steady_centre_temperature(power: float, contact_radius: float, conductivity: float) -> float:
    """Steady temperature rise P/(π k a) in K at the centre of a uniformly heated disk.

    Parameters
    ----------
    power : absorbed power P, W.
    contact_radius : disk radius a, m.
    conductivity : thermal conductivity k of the half-space, W/(m K).
    """
    _check_positive(contact_radius=contact_radius, conductivity=conductivity)
    return power / (math.pi * conductivity * contact_radius)


def steady_disk_average_temperature(
    power: float, contact_radius: float, conductivity: float
) -> float:
    """Steady temperature rise 8P/(3π² k a) in K averaged over a uniformly heated disk.

    Parameters
    ----------
    power : absorbed power P, W.
    contact_radius : disk radius a, m.
    conductivity : thermal conductivity k of the half-space, W/(m K).
    """
    _check_positive(contact_radius=contact_radius, conductivity=conductivity)
    return 8.0 * power / (3.0 * math.pi**2 * conductivity * contact_radius)


# ----------------------------------------------------------------------------------------------
# Responses
# ----------------------------------------------------------------------------------------------


def halfspace_temperature(
    power: float,
    contact_radius: float,
    conductivity: float,
    diffusivity: float,
    omega: float,
    receiver: str = "uniform",
) -> complex:
    """Surface temperature (K) of a half-space heated through a uniform disk of radius a.

    Parameters
    ----------
    power : amplitude of the absorbed power P, W.
    contact_radius : radius a of the heated disk and of the receiver disk, m.
    conductivity : thermal conductivity k, W/(m K).
    diffusivity : thermal diffusivity κ, m²/s.
    omega : angular frequency ω ≥ 0, rad/s (0 gives the steady state).
    receiver : "uniform" (disk average), "hertz" (weight √(1 − r²/a²)) or "centre" (r = 0).
    """
    medium = _HalfSpace(conductivity, diffusivity, omega, contact_radius)
    return _surface_average(_disk_source(power), medium.temperature_kernel, receiver, medium)


def halfspace_displacement(
    power: float,
    contact_radius: float,
    conductivity: float,
    diffusivity: float,
    expansion: float,
    poisson_ratio: float,
    omega: float,
    receiver: str = "uniform",
) -> complex:
    """Outward normal surface displacement (m) of a half-space heated through a uniform disk.

    Parameters
    ----------
    power : amplitude of the absorbed power P, W.
    contact_radius : radius a of the heated disk and of the receiver disk, m.
    conductivity : thermal conductivity k, W/(m K).
    diffusivity : thermal diffusivity κ, m²/s.
    expansion : linear thermal expansion coefficient α, 1/K.
    poisson_ratio : Poisson ratio ν (dimensionless).
    omega : angular frequency ω > 0, rad/s (the steady displacement diverges).
    receiver : "uniform", "hertz" or "centre" (see ``halfspace_temperature``).
    """
    _check_dynamic(omega)
    medium = _HalfSpace(conductivity, diffusivity, omega, contact_radius)
    kernel = medium.displacement_kernel(expansion, poisson_ratio)
    return _surface_average(_disk_source(power), kernel, receiver, medium)


def disk_temperature_field(
    power: float, contact_radius: float, conductivity: float, diffusivity: float, omega: float,
    r: np.ndarray, depth: np.ndarray, nodes: int = 48,
) -> np.ndarray:
    """Temperature (K) at radius ``r`` and depth ``depth`` (arrays, m) inside a half-space heated through
    a uniform disk of radius a: the disk's point sources, each P_i e^{−qR}/(2πkR) on an adiabatic
    surface (q = √(iω/κ)), summed by Gauss–Legendre quadrature over the disk with ``nodes`` points in
    radius and in angle. Accurate away from the disk itself (at depth ≥ a/1000 on it, 1e-3 at the
    centre: the integrable 1/R singularity). Arguments as :func:`halfspace_temperature`."""
    _check_positive(power=power, contact_radius=contact_radius, conductivity=conductivity, diffusivity=diffusivity)
    _check_frequency(omega)
    q = np.sqrt(1j * omega / diffusivity)
    x, w = np.polynomial.legendre.leggauss(nodes)
    radius, angle = contact_radius * (x + 1) / 2, math.pi * (x + 1) / 2  # angle in [0, pi], doubled
    weights = (w * contact_radius / 2 * radius)[:, None] * (w * math.pi / 2)[None, :] * 2
    cos_angle = np.cos(angle)[None, :]
    flux = power / (math.pi * contact_radius**2) / (2 * math.pi * conductivity)
    r, depth = np.broadcast_arrays(np.asarray(r, float), np.asarray(depth, float))
    out = np.empty(r.size, dtype=complex)
    for start in range(0, r.size, 256):  # chunks of field points
        rr = r.ravel()[start:start + 256, None, None]
        zz = depth.ravel()[start:start + 256, None, None]
        distance = np.sqrt(rr**2 + radius[:, None] ** 2 - 2 * rr * radius[:, None] * cos_angle + zz**2)
        out[start:start + 256] = np.sum(weights * np.exp(-q * distance) / distance, axis=(1, 2))
    return flux * out.reshape(r.shape)


def squared_temperature_centre_displacement(
    power: float, contact_radius: float, conductivity: float, diffusivity: float, expansion_slope: float,
    poisson_ratio: float, omega: float,
) -> complex:
    """Outward surface displacement (m) at the disk centre of a traction-free half-space with the
    isotropic eigenstrain α′Θ₁²/4 (the 2ω part of ∫α dT for α(T) = α + α′θ, θ = Re(Θ₁e^{iωt}), Θ₁
    the thermal wave of :func:`disk_temperature_field`). A centre of dilatation ε at depth z below the
    surface point at lateral distance r lifts the surface at the origin by 2(1 + ν) ε z/(r² + z²)^{3/2}
    per volume (the kernel ∫J₀(λr)e^{−λz}λ dλ of the module's thermoelastic displacement), so in polar
    coordinates r = ρ cos φ, z = ρ sin φ about the origin

        u_z(0) = 2(1 + ν) ∫₀^∞ dρ ∫₀^{π/2} ε(ρ, φ) sin φ cos φ dφ,

    integrated by Gauss–Legendre quadrature in ln ρ (a/1000 to 40 thermal lengths) and φ. Converged to
    1e-7 (PTFE, 20 kHz, a = 20 nm). ``expansion_slope`` α′ in 1/K²; other arguments as
    :func:`halfspace_displacement` (ω > 0)."""
    _check_dynamic(omega)
    length = thermal_length(diffusivity, omega)
    x, w = np.polynomial.legendre.leggauss(24)
    edges = np.linspace(math.log(1e-3 * contact_radius), math.log(40 * length), 41)
    low, high = edges[:-1, None], edges[1:, None]
    log_rho = ((high - low) * (x + 1) / 2 + low).ravel()
    rho, rho_weights = np.exp(log_rho), ((high - low) / 2 * w).ravel() * np.exp(log_rho)
    x, w = np.polynomial.legendre.leggauss(32)
    phi, phi_weights = math.pi / 4 * (x + 1), w * math.pi / 4
    rho, phi = np.meshgrid(rho, phi, indexing="ij")
    theta = disk_temperature_field(power, contact_radius, conductivity, diffusivity, omega, rho * np.cos(phi), rho * np.sin(phi))
    weights = rho_weights[:, None] * phi_weights[None, :] * np.sin(phi) * np.cos(phi)
    return complex(2 * (1 + poisson_ratio) * np.sum(weights * expansion_slope * theta**2 / 4))


def gaussian_halfspace_temperature(
    power: float,
    beam_radius: float,
    contact_radius: float,
    conductivity: float,
    diffusivity: float,
    omega: float,
    receiver: str = "uniform",
    absorption_length: float | None = None,
) -> complex:
    """Surface temperature (K) of a half-space heated by a Gaussian spot, seen by the contact disk.

    Parameters
    ----------
    power : amplitude of the absorbed power P, W.
    beam_radius : 1/e² radius w of the flux (2P/(πw²)) exp(−2r²/w²), m.
    contact_radius : radius a of the receiver disk, m.
    conductivity : thermal conductivity k, W/(m K).
    diffusivity : thermal diffusivity κ, m²/s.
    omega : angular frequency ω ≥ 0, rad/s (0 gives the steady state).
    receiver : "uniform", "hertz" or "centre" (see ``halfspace_temperature``).
    absorption_length : Beer–Lambert absorption length δ, m (None: surface absorption).
    """
    medium = _HalfSpace(conductivity, diffusivity, omega, contact_radius, absorption_length)
    source = _gaussian_source(power, beam_radius, contact_radius)
    return _surface_average(source, medium.temperature_kernel, receiver, medium)


def gaussian_halfspace_displacement(
    power: float,
    beam_radius: float,
    contact_radius: float,
    conductivity: float,
    diffusivity: float,
    expansion: float,
    poisson_ratio: float,
    omega: float,
    receiver: str = "uniform",
    absorption_length: float | None = None,
) -> complex:
    """Outward normal surface displacement (m) of a half-space heated by a Gaussian spot.

    Parameters
    ----------
    power : amplitude of the absorbed power P, W.
    beam_radius : 1/e² radius w of the flux (2P/(πw²)) exp(−2r²/w²), m.
    contact_radius : radius a of the receiver disk, m.
    conductivity : thermal conductivity k, W/(m K).
    diffusivity : thermal diffusivity κ, m²/s.
    expansion : linear thermal expansion coefficient α, 1/K.
    poisson_ratio : Poisson ratio ν (dimensionless).
    omega : angular frequency ω > 0, rad/s (the steady displacement diverges).
    receiver : "uniform", "hertz" or "centre" (see ``halfspace_temperature``).
    absorption_length : Beer–Lambert absorption length δ, m (None: surface absorption).
    """
    _check_dynamic(omega)
    medium = _HalfSpace(conductivity, diffusivity, omega, contact_radius, absorption_length)
    source = _gaussian_source(power, beam_radius, contact_radius)
    kernel = medium.displacement_kernel(expansion, poisson_ratio)
    return _surface_average(source, kernel, receiver, medium)


def film_temperature(
    power: float,
    contact_radius: float,
    film_thickness: float,
    film: Layer,
    substrate: Layer,
    omega: float,
    receiver: str = "uniform",
) -> complex:
    """Surface temperature (K) of a film on a half-space substrate heated through a uniform disk.

    Parameters
    ----------
    power : amplitude of the absorbed power P, W.
    contact_radius : radius a of the heated disk and of the receiver disk, m.
    film_thickness : film thickness h, m.
    film : thermal properties of the film, 0 < z < h.
    substrate : thermal properties of the substrate, z > h (perfect thermal contact at z = h).
    omega : angular frequency ω ≥ 0, rad/s (0 gives the steady state).
    receiver : "uniform", "hertz" or "centre" (see ``halfspace_temperature``).
    """
    stack = _FilmStack(film, substrate, film_thickness, omega, contact_radius)
    return _surface_average(_disk_source(power), stack.temperature_kernel, receiver, stack)


def film_displacement(
    power: float,
    contact_radius: float,
    film_thickness: float,
    film: Layer,
    substrate: Layer,
    poisson_ratio: float,
    omega: float,
    receiver: str = "uniform",
) -> complex:
    """Outward normal surface displacement (m) of a film on a substrate heated through a disk.

    Film and substrate share the elastic constants (only ν enters the result) but have their own
    thermal properties and expansion coefficients.

    Parameters
    ----------
    power : amplitude of the absorbed power P, W.
    contact_radius : radius a of the heated disk and of the receiver disk, m.
    film_thickness : film thickness h, m.
    film : thermal properties and expansion coefficient of the film, 0 < z < h.
    substrate : thermal properties and expansion coefficient of the substrate, z > h.
    poisson_ratio : Poisson ratio ν common to film and substrate (dimensionless).
    omega : angular frequency ω > 0, rad/s (the steady displacement diverges).
    receiver : "uniform", "hertz" or "centre" (see ``halfspace_temperature``).
    """
    _check_dynamic(omega)
    stack = _FilmStack(film, substrate, film_thickness, omega, contact_radius)
    kernel = stack.displacement_kernel(poisson_ratio)
    return _surface_average(_disk_source(power), kernel, receiver, stack)


# ----------------------------------------------------------------------------------------------
# Sources and receivers as functions of x = λa
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    """A transform f(x), x = λa, with its exact split f(x) = Σ_m f_m(x) e^{imx}.

    ``value`` is evaluated on the real axis. ``waves`` maps m to the non-oscillating envelope f_m,
    analytic for Re x ≥ 1 (it is evaluated at complex x). ``scales`` are values of x where the
    profile changes character.
    """

    value: Function
    waves: dict[int, Function]
    scales: tuple[float, ...] = ()


def _disk_source(power: float) -> _Profile:
    """Uniform flux over the contact disk: S̃ = P J₁(x)/(π x), in W."""
    scale = power / math.pi
    return _Profile(
        value=lambda x: scale * special.j1(x) / x,
        waves={
            1: lambda x: 0.5 * scale * special.hankel1e(1, x) / x,
            -1: lambda x: 0.5 * scale * special.hankel2e(1, x) / x,
        },
    )


def _gaussian_source(power: float, beam_radius: float, contact_radius: float) -> _Profile:
    """Gaussian flux of 1/e² radius w: S̃ = (P/2π) exp(−x² (w/a)²/8), in W."""
    _check_positive(beam_radius=beam_radius)
    width = beam_radius / contact_radius

    def value(x):
        return power / (2.0 * math.pi) * np.exp(-((width * x) ** 2) / 8.0)

    return _Profile(value=value, waves={0: value}, scales=(1.0 / width,))


def _receiver(name: str) -> _Profile:
    """Normalised receiver weight R̃(x), R̃(0) = 1, over the contact disk."""
    if name == "uniform":
        return _Profile(
            value=lambda x: 2.0 * special.j1(x) / x,
            waves={
                1: lambda x: special.hankel1e(1, x) / x,
                -1: lambda x: special.hankel2e(1, x) / x,
            },
        )
    if name == "hertz":
        # 3 j₁(x)/x = 3 (sin x − x cos x)/x³, and sin x − x cos x = Σ± (∓i − x) e^{±ix} / 2
        return _Profile(
            value=lambda x: 3.0 * special.spherical_jn(1, x) / x,
            waves={1: lambda x: 1.5 * (-1j - x) / x**3, -1: lambda x: 1.5 * (1j - x) / x**3},
        )
    if name == "centre":
        return _Profile(value=np.ones_like, waves={0: np.ones_like})
    raise ValueError(f"unknown receiver {name!r}; expected 'uniform', 'hertz' or 'centre'")


# ----------------------------------------------------------------------------------------------
# Media: kernels G per unit transformed flux, as functions of x = λa (complex x allowed)
# ----------------------------------------------------------------------------------------------


class _HalfSpace:
    """Homogeneous half-space; b = βa = √(x² + (qa)²).

    With an absorption length δ the source is spread in depth as e^{−z/δ}/δ (Beer–Lambert); g = a/δ.
    Solving k θ'' = k β² θ − S̃ e^{−z/δ}/δ with θ'(0) = 0 gives the surface kernel γ/(kβ(β+γ)),
    γ = 1/δ, and the displacement kernel 2(1+ν)α γ(β+γ+λ)/(kβ(β+γ)(γ+λ)(β+λ)); both tend to the
    surface-source kernels as δ → 0.
    """

    def __init__(self, conductivity: float, diffusivity: float, omega: float, a: float, absorption_length=None):
        _check_positive(contact_radius=a, conductivity=conductivity, diffusivity=diffusivity)
        self.conductivity, self.a = conductivity, a
        self.p2 = _wave_number_squared(diffusivity, omega, a)
        self.thermal_scale = _thermal_scale(diffusivity, omega, a)
        self.g = None
        self.scales: tuple[float, ...] = ()
        if absorption_length is not None:
            _check_positive(absorption_length=absorption_length)
            self.g = a / absorption_length
            self.scales = (self.g,)

    def temperature_kernel(self, x):
        """G_T = 1/(kβ) (surface source) or γ/(kβ(β+γ)), in K m²/W."""
        b = np.sqrt(x * x + self.p2)
        depth_factor = 1.0 if self.g is None else self.g / (b + self.g)
        return self.a * depth_factor / (self.conductivity * b)

    def displacement_kernel(self, expansion: float, poisson_ratio: float) -> Function:
        """G_u = 2(1+ν)α / (kβ(β+λ)) (surface source) times the absorption factor, in m³/W."""
        factor = 2.0 * (1.0 + poisson_ratio) * expansion * self.a**2 / self.conductivity
        g = self.g

        def kernel(x):
            b = np.sqrt(x * x + self.p2)
            depth_factor = 1.0 if g is None else g * (b + g + x) / ((b + g) * (g + x))
            return factor * depth_factor / (b * (b + x))

        return kernel


class _FilmStack:
    """Film 0 < z < h on a substrate z > h, perfect thermal contact, adiabatic top.

    In the film θ̃ = A e^{−β_f z} + B e^{β_f z}, in the substrate θ̃ = C e^{−β_s z}, with
    Γ = (k_f β_f − k_s β_s)/(k_f β_f + k_s β_s), B = Γ A e^{−2β_f h},
    A = S̃ / (k_f β_f (1 − Γ e^{−2β_f h})) and, from continuity at z = h, the interface value
    D = C e^{−β_s h} = (1 + Γ) A e^{−β_f h}.
    Only decaying exponentials are evaluated, and 1 ± Γ e^{−2β_f h} is formed as
    (1 ± Γ) ∓ Γ (1 − e^{−2β_f h}) so that thin films keep their accuracy.
    """

    def __init__(self, film: Layer, substrate: Layer, thickness: float, omega: float, a: float):
        _check_positive(
            film_thickness=thickness,
            contact_radius=a,
            film_conductivity=film.conductivity,
            film_diffusivity=film.diffusivity,
            substrate_conductivity=substrate.conductivity,
            substrate_diffusivity=substrate.diffusivity,
        )
        self.film, self.substrate, self.a = film, substrate, a
        self.eta = thickness / a
        self.p2_film = _wave_number_squared(film.diffusivity, omega, a)
        self.p2_substrate = _wave_number_squared(substrate.diffusivity, omega, a)
        self.thermal_scale = max(
            _thermal_scale(layer.diffusivity, omega, a) for layer in (film, substrate)
        )
        self.scales = (1.0 / self.eta,)

    def _waves(self, x):
        """β_f a, β_s a, Γ, 1 + Γ, 1 − Γ e^{−2β_f h}."""
        b_f = np.sqrt(x * x + self.p2_film)
        b_s = np.sqrt(x * x + self.p2_substrate)
        total = self.film.conductivity * b_f + self.substrate.conductivity * b_s
        one_plus_gamma = 2.0 * self.film.conductivity * b_f / total
        gamma = one_plus_gamma - 1.0
        one_minus_gamma_e = 2.0 - one_plus_gamma - gamma * np.expm1(-2.0 * b_f * self.eta)
        return b_f, b_s, gamma, one_plus_gamma, one_minus_gamma_e

    def temperature_kernel(self, x):
        """G_T = (1 + Γ e^{−2β_f h}) / (k_f β_f (1 − Γ e^{−2β_f h})), in K m²/W."""
        b_f, _, gamma, one_plus_gamma, one_minus_gamma_e = self._waves(x)
        one_plus_gamma_e = one_plus_gamma + gamma * np.expm1(-2.0 * b_f * self.eta)
        return self.a * one_plus_gamma_e / (self.film.conductivity * b_f * one_minus_gamma_e)

    def displacement_kernel(self, poisson_ratio: float) -> Function:
        """G_u = 2(1+ν) [α_f ∫₀^h θ̃ e^{−λz} dz + α_s ∫_h^∞ θ̃ e^{−λz} dz] / S̃, in m³/W."""
        factor = 2.0 * (1.0 + poisson_ratio) * self.a**2 / self.film.conductivity
        alpha_f, alpha_s, eta = self.film.expansion, self.substrate.expansion, self.eta

        def kernel(x):
            b_f, b_s, gamma, one_plus_gamma, one_minus_gamma_e = self._waves(x)
            depth = (b_f + x) * eta  # (β_f + λ) h
            # B term: Γ e^{−(β_f+λ)h} (1 − e^{−(β_f−λ)h})/(β_f − λ), (β_f − λ)h = q_f²h/(β_f + λ)
            reflected = eta * _decay_times_ratio(depth, self.p2_film * eta / (b_f + x))
            in_film = -np.expm1(-depth) / (b_f + x) + gamma * reflected
            in_substrate = one_plus_gamma * np.exp(-depth) / (b_s + x)
            return factor * (alpha_f * in_film + alpha_s * in_substrate) / (b_f * one_minus_gamma_e)

        return kernel


def _decay_times_ratio(depth: np.ndarray, y: np.ndarray) -> np.ndarray:
    """e^{−depth} (1 − e^{−y})/y without overflow, for Re depth ≥ 0 and Re(depth + y) ≥ 0.

    When Re y < 0 (possible off the real axis) it is evaluated as e^{−(depth + y)} (e^{y} − 1)/y.
    """
    flip = y.real < 0
    shift = np.where(flip, depth + y, depth)
    y = np.where(flip, -y, y)
    safe = np.where(y == 0, 1.0, y)
    return np.exp(-shift) * np.where(y == 0, 1.0, -np.expm1(-safe) / safe)


def _wave_number_squared(diffusivity: float, omega: float, a: float) -> complex:
    """(qa)² = iωa²/κ."""
    _check_frequency(omega)
    return 1j * omega * a**2 / diffusivity


def _thermal_scale(diffusivity: float, omega: float, a: float) -> float:
    """|q|a = a √(ω/κ), where the kernel turns from the static to the thermal-wave regime."""
    return a * math.sqrt(omega / diffusivity)


# ----------------------------------------------------------------------------------------------
# Quadrature of ∫₀^∞ S̃ G R̃ λ dλ
# ----------------------------------------------------------------------------------------------


def _surface_average(source: _Profile, kernel: Function, receiver_name: str, medium) -> complex:
    """a⁻² ∫₀^∞ S̃ G R̃ x dx with x = λa: real axis up to X, then rays and x = X/u (module doc)."""
    receiver = _receiver(receiver_name)
    scales = (medium.thermal_scale, *medium.scales, *source.scales)
    split = max(2.0, 2.0 * medium.thermal_scale)

    def near(x):
        return source.value(x) * receiver.value(x) * kernel(x) * x

    total = _integrate(near, _break_points(split, scales), 0.0)
    atol = _RTOL * abs(total)
    for m, envelope in _product_waves(source, receiver).items():

        def far(x, envelope=envelope):
            return envelope(x) * kernel(x) * x

        total += _ray_integral(far, m, split, atol) if m else _real_tail(far, split, scales, atol)
    return total / medium.a**2


def _product_waves(first: _Profile, second: _Profile) -> dict[int, Function]:
    """Envelopes of the product of two split profiles, grouped by the frequency m of e^{imx}."""
    pairs: dict[int, list[tuple[Function, Function]]] = {}
    for j, f in first.waves.items():
        for n, g in second.waves.items():
            pairs.setdefault(j + n, []).append((f, g))
    return {
        m: (lambda x, terms=terms: sum(f(x) * g(x) for f, g in terms)) for m, terms in pairs.items()
    }


def _break_points(split: float, scales: tuple[float, ...]) -> np.ndarray:
    """Seeds on [0, X]: multiples of π, and each feature scale times powers of ten."""
    points = [0.0, split, *np.arange(math.pi, split, math.pi)]
    for scale in scales:
        points += [scale * 10.0**k for k in range(12) if 0.0 < scale * 10.0**k < split]
    return np.unique(points)


def _ray_integral(integrand: Function, m: int, start: float, atol: float) -> complex:
    """∫_X^∞ F(x) e^{imx} dx along x = X + t e^{±iπ/4}, on which |e^{imx}| = e^{−|m|t/√2}."""
    direction = _RAY_DIRECTION if m > 0 else np.conj(_RAY_DIRECTION)
    length = _RAY_DECAY / (abs(m) * abs(direction.imag))

    def along_ray(t):
        x = start + t * direction
        return integrand(x) * np.exp(1j * m * x) * direction

    return _integrate(along_ray, np.linspace(0.0, length, 9), atol)


def _real_tail(
    integrand: Function, start: float, scales: tuple[float, ...], atol: float
) -> complex:
    """∫_X^∞ F(x) dx of a non-oscillating F, with x = X/u, u ∈ (0, 1]."""

    def mapped(u):
        x = start / u
        return integrand(x) * x / u

    seeds = [start / scale for scale in scales if scale > start]
    return _integrate(mapped, np.unique([0.0, 0.25, 0.5, 1.0, *seeds]), atol)


def _gauss_legendre(f: Function, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """16-point Gauss-Legendre rule on each interval [lo_i, hi_i]."""
    half = 0.5 * (hi - lo)
    x = (0.5 * (hi + lo))[:, None] + half[:, None] * _GL_NODES
    return half * (f(x) @ _GL_WEIGHTS)


def _integrate(f: Function, breaks: np.ndarray, atol: float) -> complex:
    """Adaptive bisection of ∫ f over [breaks[0], breaks[-1]]; f vectorised, complex valued.

    Every interval carries its Gauss-Legendre value and the sum over its two halves; their
    difference is its error estimate. Intervals whose error exceeds an equal share of the
    tolerance max(rtol |I|, atol) are bisected until the summed error is below the tolerance.
    """
    lo, hi = breaks[:-1], breaks[1:]
    mid = 0.5 * (lo + hi)
    whole = _gauss_legendre(f, lo, hi)
    left, right = _gauss_legendre(f, lo, mid), _gauss_legendre(f, mid, hi)
    for _ in range(_MAX_BISECTIONS):
        error = np.abs(left + right - whole)
        total = (left + right).sum()
        tolerance = max(_RTOL * abs(total), atol)
        if error.sum() <= tolerance:
            return complex(total)
        split, keep = error > tolerance / error.size, error <= tolerance / error.size
        mid = 0.5 * (lo[split] + hi[split])
        new_lo, new_hi = np.concatenate([lo[split], mid]), np.concatenate([mid, hi[split]])
        new_mid = 0.5 * (new_lo + new_hi)
        lo, hi = np.concatenate([lo[keep], new_lo]), np.concatenate([hi[keep], new_hi])
        whole = np.concatenate([whole[keep], left[split], right[split]])
        left = np.concatenate([left[keep], _gauss_legendre(f, new_lo, new_mid)])
        right = np.concatenate([right[keep], _gauss_legendre(f, new_mid, new_hi)])
    raise RuntimeError("adaptive quadrature did not converge")


# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0.0:
            raise ValueError(f"{name} must be positive, got {value!r}")


def _check_frequency(omega: float) -> None:
    if not omega >= 0.0:
        raise ValueError(f"omega must be non-negative, got {omega!r}")


def _check_dynamic(omega: float) -> None:
    if omega == 0.0:
        raise ValueError(
            "the steady (omega = 0) surface displacement diverges logarithmically: heat spreading "
            "to infinity lifts the whole surface; use omega > 0"
        )
