"""Temperature limits (stimsim.solve.limits): the pre-solve estimate, the post-solve check and their refusals."""

import math

import pytest

from stimsim.physics import drives
from stimsim.solve import limits
from stimsim.study.load import apply_override, study_from_dict
from stimsim.core.errors import InputError
from stimsim.fem.response import TipResponse


def study(*changes, material="SDC"):
    raw = {
        "sample": {"material": material},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [1e3, 1e5]},
    }
    for change in changes:
        apply_override(raw, change)
    return study_from_dict(raw)


def row(frequency, temperature, kind="thermal", harmonic=1):
    return TipResponse(frequency, harmonic, kind, 1, 0j, complex(temperature), 0j)


def test_estimate_is_the_disk_on_half_space_rise():
    found = limits.estimate(study("excitation.dc_power=2e-6"))
    steady = 8 * 1e-6 / (3 * math.pi**2 * 2.0 * 20e-9)  # 8 P / (3 pi^2 k a): SDC, k = 2 W/(m K)
    assert found.dc_rise == pytest.approx(2 * steady, rel=1e-6)
    assert steady * 0.95 < found.oscillation <= steady


POWER = {"mode": "power", "power_amplitude": 1e-6}
HEATER = {"mode": "heater", "contact_conductance": 1e-3}
LASER = {"mode": "laser", "modulation_depth": 1.0, "beam_radius": 1e-6}
JOULE = {"mode": "joule", "heater_resistance": 1e3, "heater_conductance": 1e-5, "contact_conductance": 1e-6}


@pytest.mark.parametrize(
    "excitation, material, message",
    [
        (POWER | {"power_amplitude": 10e-3}, "PTFE", "excitation.power_amplitude = 0.01 W makes the tip temperature oscillate by"),
        (POWER | {"power_amplitude": 1e-3}, "SDC", "below 0 K"),
        (POWER | {"dc_power": 1.0}, "SDC", "excitation.dc_power = 1 W heats the tip to"),
        (POWER | {"dc_power": 1e-5}, "PTFE", "above the 600 K that PTFE stands"),
        (POWER | {"power_amplitude": 2e-6, "ambient_temperature": 10.0}, "SDC", "lower it below about"),
        (HEATER | {"heater_temperature_amplitude": 900.0}, "SDC", "excitation.heater_temperature_amplitude = 900 K"),
        (LASER | {"mean_power": 50.0}, "PTFE", "excitation.mean_power = 50 W heats the tip"),
        (JOULE | {"ac_voltage": 100.0}, "PTFE", "excitation.ac_voltage = 100 V heats the tip"),
    ],
)
def test_heating_outside_the_model_is_refused_before_solving(excitation, material, message):
    raw = {
        "sample": {"material": material},
        "tip": {"contact_radius": 20e-9},
        "excitation": excitation | {"frequencies": [1e3]},
    }
    with pytest.raises(InputError, match="estimated before solving") as info:
        limits.check_study(study_from_dict(raw))
    assert message in str(info.value)


def test_ordinary_studies_pass():
    limits.check_study(study())
    limits.check_study(study("excitation.dc_power=1e-5"))
    limits.check_study(study("excitation.power_amplitude=1e-7", material="PTFE"))


def test_post_solve_check_sums_harmonics_and_names_the_frequency():
    s = study()
    limits.check_temperatures(s, [row(1e3, 200.0), row(1e3, 50.0, "ionic", 2), row(1e3, 250.0, "total")])
    with pytest.raises(InputError, match=r"oscillate by 310 K about 300 K \(solved at 1000 Hz\)"):
        limits.check_temperatures(s, [row(1e3, 260.0), row(1e3, 50.0, "ionic", 2)])
    limits.check_temperatures(s, [row(1e3, 260.0), row(1e3, 50.0, "ionic", 2)], dc_rise=20.0)
    with pytest.raises(InputError, match=r"excitation.dc_power = 0.0001 W heats the tip to 3100 K \(solved at 1000 Hz\), above the 2670 K"):
        limits.check_temperatures(study("excitation.dc_power=1e-4"), [row(1e3, 100.0)], dc_rise=2700.0)


def test_limits_ask_the_drive_not_the_mode(monkeypatch):
    """limits.py names whatever keys the drive declares and uses its estimate: a new drive needs no
    change there. A power drive that says its heating is set by a made-up voltage key, quadratically,
    and whose tip rise is twice the half-space estimate."""

    class Probe(drives.PowerDrive):
        def __init__(self, excitation, tip):
            super().__init__(excitation, tip)
            self.oscillating_key = drives.HeatingKey("excitation.probe_voltage", 3.0, "V", 2, ("ac",))
            self.dc_key = None

        def tip_rise(self, response, angular_frequency, dc_power=None):
            dc, oscillation = super().tip_rise(response, angular_frequency, dc_power)
            return 2 * dc, 2 * oscillation

    plain = limits.estimate(study("excitation.power_amplitude=1e-3"))
    monkeypatch.setitem(drives.DRIVES, "power", Probe)
    probed = study("excitation.power_amplitude=1e-3")
    assert limits.estimate(probed).oscillation == pytest.approx(2 * plain.oscillation, rel=1e-12)
    with pytest.raises(InputError) as info:
        limits.check_study(probed)
    bound = 3.0 * math.sqrt(300.0 / (2 * plain.oscillation))  # the rise scales as the key squared
    assert str(info.value).startswith("excitation.probe_voltage = 3 V makes the tip temperature oscillate by")
    assert str(info.value).endswith(f"lower it below about {bound:.3g} V")  # no DC key to raise


def test_first_order_refusals_name_the_key_and_the_limit():
    """theta_1/T and |c_1|/c_0 above 1 anywhere: the temperature or the concentration would fall below
    zero. The bound scales the oscillating key as the rise scales with it (voltages: the square root)."""
    s = study()
    limits.check_first_order(s, {1e3: {"temperature": 0.9, "concentration": 0.99}, 1e5: {"temperature": 0.5}})
    with pytest.raises(InputError, match=r"^excitation.power_amplitude = 1e-06 W makes the concentration oscillate by 1.5 "
                       r"times its local mean value \(\|c_1\|/c_0 = 1.5 > 1, solved at 100000 Hz\): it would fall below zero "
                       r".*; lower it below about 6.67e-07 W$"):
        limits.check_first_order(s, {1e3: {"temperature": 0.5}, 1e5: {"temperature": 0.5, "concentration": 1.5}})
    with pytest.raises(InputError, match=r"theta_1/T = 1.25 > 1, solved at 1000 Hz\): it would fall below 0 K.*about 8e-07 W$"):
        limits.check_first_order(s, {1e3: {"temperature": 1.25}})
    joule = study_from_dict({"sample": {"material": "SDC"}, "tip": {"contact_radius": 20e-9},
                             "excitation": JOULE | {"ac_voltage": 2.0, "frequencies": [1e3]}})
    with pytest.raises(InputError, match=r"^excitation.ac_voltage = 2 V makes the temperature .* about 1.41 V$"):
        limits.check_first_order(joule, {1e3: {"temperature": 2.0}})
