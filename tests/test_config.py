"""Study-file validation: every bad input gives one clear InputError naming the key and the range."""

import pytest

from stimsim.study.load import apply_override, load_study, study_from_dict
from stimsim.core.errors import InputError
from stimsim.geometry.meshes import mesh_spec
from stimsim.materials.library import PARAMETER_SETS, PROPERTIES, material

from conftest import ROOT, error_for


def base():
    return {
        "sample": {"material": "SDC"},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [1e3, 1e5]},
    }


def with_change(path, value):
    raw = base()
    apply_override(raw, f"{path}={value}")
    return raw


def test_default_study_loads_with_defaults_filled():
    study = load_study(ROOT / "studies" / "default.toml")
    assert study.sample.material.name == "SDC"
    assert study.excitation.ambient_temperature == 300.0
    assert study.tip.thermal_contact_radius == study.tip.contact_radius
    assert study.resolved["mesh"]["refinement"] == 1.0
    assert study.resolved["sample"]["properties"]["youngs_modulus"] == 200e9


def test_issue_example_keys_work_exactly_as_written(tmp_path):
    text = """
[sample]
material = "SDC"
[sample.properties]
youngs_modulus = 200e9
poisson_ratio = 0.3
thermal_expansion = 12e-6
thermal_conductivity = 2.0
density = 7160.0
heat_capacity = 380.0
[geometry]
kind = "halfspace"
[tip]
contact_radius = 20e-9
weighting = "uniform"
[excitation]
mode = "power"
power_amplitude = 1e-6
frequencies = [1e3, 1e4, 1e5]
ambient_temperature = 300.0
"""
    path = tmp_path / "study.toml"
    path.write_text(text)
    study = load_study(path)
    assert study.sample.material.thermal_conductivity == 2.0
    assert study.excitation.frequencies == (1e3, 1e4, 1e5)


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("sample.properties.poisson_ratio", 0.5, "sample.properties.poisson_ratio = 0.5 is outside the accepted range (-1, 0.499)"),
        ("sample.properties.thermal_conductivity", 0.0, "sample.properties.thermal_conductivity = 0 is outside"),
        ("sample.properties.thermal_conductivity", -2.0, "W/(m K)"),
        ("sample.properties.diffusivity", -1e-14, "sample.properties.diffusivity = -1e-14 is outside the accepted range [0, 1) m^2/s"),
        ("sample.properties.youngs_modulus", '"stiff"', "must be a number"),
        ("sample.material", '"unobtainium"', "sample.material = 'unobtainium' is not a built-in material"),
        ("excitation.frequencies", "[]", "excitation.frequencies must be a non-empty list"),
        ("excitation.frequencies", "[1e3, -5.0]", "excitation.frequencies[1] = -5 is outside"),
        ("excitation.power_amplitude", 0, "excitation.power_amplitude = 0 is outside the accepted range (0, 10) W"),
        ("excitation.mode", '"joule-ish"', "excitation.mode = 'joule-ish' is not accepted; use 'power' or 'heater' or 'laser'"),
        ("excitation.beam_radius", 1e-6, "excitation.beam_radius is not used by mode 'power'"),
        ("tip.weighting", '"gaussian"', "tip.weighting = 'gaussian' is not accepted"),
        ("tip.radius", 1e-9, "tip.radius is not a known key; did you mean"),
        ("sample.properties.conductivity", 1.0, "sample.properties.conductivity is not a material property"),
        ("geometry.film_thickness", 1e-7, "geometry.film_thickness is only used with geometry.kind = 'film'"),
        ("geometry.kind", '"film"', "geometry.film_thickness is required for geometry.kind = 'film'"),
        ("mesh.refinement", 0, "mesh.refinement = 0 is outside"),
        ("sample.properties.density", "1" + "0" * 400, "sample.properties.density is outside the accepted range"),
        ("excitation.power_amplitude", "1" + "0" * 400, "excitation.power_amplitude is outside the accepted range"),
        ("tip.contact_radius", 1e-300, "tip.contact_radius = 1e-300 m is below 1e-06 of the domain size"),
        ("tip.thermal_contact_radius", 1e-13, "tip.thermal_contact_radius = 1e-13 m is below 1e-06"),
        ("samples.material", '"SDC"', "samples is not a study section; did you mean 'sample'?"),
    ],
)
def test_bad_input_names_key_and_range(path, value, expected):
    assert expected in error_for(with_change(path, value))


def test_contact_radius_larger_than_explicit_domain_is_rejected():
    raw = with_change("mesh.domain_size", 50e-9)
    assert "tip.contact_radius = 2e-08 m must be below a quarter of the domain size (5e-08 m)" in error_for(raw)


def test_required_keys_and_mode_specific_keys():
    raw = base()
    del raw["tip"]["contact_radius"]
    assert "tip.contact_radius is required" in error_for(raw)
    raw = with_change("excitation.mode", '"laser"')
    assert "excitation.power_amplitude is not used by mode 'laser'" in error_for(raw)
    del raw["excitation"]["power_amplitude"]
    assert "excitation.mean_power is required for mode 'laser'" in error_for(raw)
    raw = with_change("excitation.mode", '"heater"')
    assert "excitation.power_amplitude is not used by mode 'heater'" in error_for(raw)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_study(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[tip\ncontact_radius = 1")
    with pytest.raises(InputError, match="is not valid TOML"):
        load_study(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[tip]")
    with pytest.raises(InputError, match="is not a UTF-8 text file"):
        load_study(binary)


def test_set_overrides_parse_toml_values():
    raw = base()
    apply_override(raw, "tip.weighting=hertz")
    apply_override(raw, "excitation.frequencies=[2e3, 4e3]")
    apply_override(raw, "sample.properties.thermal_conductivity=1.5")
    study = study_from_dict(raw)
    assert study.tip.weighting == "hertz"
    assert study.excitation.frequencies == (2e3, 4e3)
    assert study.sample.material.thermal_conductivity == 1.5
    with pytest.raises(InputError, match="expects KEY=VALUE"):
        apply_override(raw, "tip.weighting")


def test_film_study_has_both_materials_and_interface_vertex():
    raw = base()
    raw["geometry"] = {"kind": "film", "film_thickness": 200e-9, "substrate": "Si", "substrate_properties": {"thermal_conductivity": 100.0}}
    study = study_from_dict(raw)
    assert study.sample.substrate.thermal_conductivity == 100.0
    assert study.sample.substrate.youngs_modulus == PARAMETER_SETS["Si"].values["youngs_modulus"]
    assert mesh_spec(study).film_thickness == 200e-9


@pytest.mark.parametrize("name", sorted(PARAMETER_SETS))
def test_builtin_materials_are_complete_cited_and_in_range(name):
    mat = material(name)
    assert mat.citation
    for prop, spec in PROPERTIES.items():
        spec.check(prop, getattr(mat, prop))
    assert 0 < mat.thermal_diffusivity < 1e-3


def test_domain_follows_lowest_frequency_thermal_length():
    low = study_from_dict(with_change("excitation.frequencies", "[1e2]"))
    high = study_from_dict(with_change("excitation.frequencies", "[1e4]"))
    assert mesh_spec(low).domain_size == pytest.approx(10 * mesh_spec(high).domain_size)


# -- issue 13: one suggestion rule, messages that blame the right thing --------------------------------


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("sample.properties.thermal_conductivty", 1.0, "sample.properties.thermal_conductivty is not a material property; did you mean 'thermal_conductivity'?"),
        ("sample.properties.Thermal-Conductivity", 1.0, "did you mean 'thermal_conductivity'?"),
        ("sample.material", '"PTEF"', "sample.material = 'PTEF' is not a built-in material; did you mean 'PTFE'?"),
        ("sample.material", '"sdc"', "did you mean 'SDC'?"),
        ("geometry.kind", '"flim"', "geometry.kind = 'flim' is not accepted; use 'halfspace' or 'film'; did you mean 'film'?"),
        ("tip.weighting", '"hertz2"', "did you mean 'hertz'?"),
        ("excitation.mode", '"Laser"', "did you mean 'laser'?"),
        ("ion.surface", '"blocking"', "ion is not a study section; did you mean 'ions'?"),
        ("excitation.powr_amplitude", 1e-6, "excitation.powr_amplitude is not a known key; did you mean 'power_amplitude'?"),
        ("tip.thermal_contact_radius", 1e-3, "tip.thermal_contact_radius = 0.001 m is too large beside tip.contact_radius"),
    ],
)
def test_every_typed_name_gets_a_suggestion_and_the_right_key_is_blamed(path, value, expected):
    assert expected in error_for(with_change(path, value))


def test_suggestion_rule():
    from stimsim.core.errors import did_you_mean, suggest

    assert did_you_mean("paramters", ["parameters", "bounds"]) == "; did you mean 'parameters'?"
    assert did_you_mean("xyz", ["parameters", "bounds"]) == ""
    assert suggest("xyz", ["a", "b"]) == " (known: a, b)"


@pytest.mark.parametrize("text", ["1e4,1e5", "[1e4, 1e5", "2e-8 m", "1,5"])
def test_set_value_that_is_not_toml_is_refused_as_such(text):
    with pytest.raises(InputError, match="the value is not TOML"):
        apply_override(base(), f"excitation.frequencies={text}")


def test_set_bare_words_stay_strings():
    raw = base()
    apply_override(raw, "sample.material=PTFE")
    apply_override(raw, "tip.weighting=hertz")
    assert raw["sample"]["material"] == "PTFE" and raw["tip"]["weighting"] == "hertz"


def test_a_folder_as_study_is_called_a_folder(tmp_path):
    with pytest.raises(InputError, match="is a folder; give a study file"):
        load_study(tmp_path)


def test_material_limits_are_cited():
    for name in ("PTFE", "SDC", "Si"):
        mat = material(name)
        assert 0 < mat.max_temperature < 5000 and mat.max_temperature_note
    assert material("PTFE").max_temperature == 600.0


CERIA = ROOT / "studies" / "ceria_vacancies_electrons.toml"


def test_set_reaches_a_table_of_an_array_of_tables():
    """--set names a key in one [[sample.species]] or [[geometry.grain_boundaries]] table by its index
    (the form the error messages use), a property override inside one, or replaces or removes a whole table."""
    study = load_study(CERIA, ["sample.species[1].diffusivity=2e-8"])
    assert study.sample.species[1].diffusivity == 2e-8
    grain = load_study(ROOT / "studies" / "grain_boundary_3d.toml", ["geometry.grain_boundaries[0].properties.diffusivity=1e-8"])
    assert grain.sample.grain_boundaries[0].core.diffusivity == 1e-8
    raw = {"geometry": {"grain_boundaries": [{"width": 1e-9}, {"width": 2e-9}]}}
    apply_override(raw, "geometry.grain_boundaries[1]={width = 3e-9}")
    assert raw["geometry"]["grain_boundaries"] == [{"width": 1e-9}, {"width": 3e-9}]
    with pytest.raises(InputError, match=r"indexes width, which is not an array of tables"):
        apply_override(raw, "geometry.grain_boundaries[0].width[0]=1")
    with pytest.raises(InputError, match=r"has the index \[-1\]: an index is a whole number >= 0"):
        apply_override(raw, "geometry.grain_boundaries[-1].width=1")


@pytest.mark.parametrize(
    "name, kind, words",
    [
        ("sample.species[0].charge", "integer", None),
        ("geometry.grain_boundaries[2].properties.diffusivity", "number", None),
        ("sample.species.charge", None, "names the array of tables sample.species ([[sample.species]]): name one table by its index"),
        ("sample.species[0].chrge", None, "did you mean 'charge'? (keys of [[sample.species]]"),
        ("tip[0].force", None, "indexes tip, which is not an array"),
        ("geometry.grain_boundaries[0].properties.difusivity", None, "must name one material property; did you mean 'diffusivity'?"),
    ],
)
def test_key_spec_names_one_value_of_the_study(name, kind, words):
    from stimsim.study.schema import key_spec

    if kind is not None:
        assert key_spec(name).kind == kind
        return
    with pytest.raises(InputError) as info:
        key_spec(name)
    assert info.value.key == name and words in str(info.value)


def test_keys_that_would_do_nothing_warn(caplog):
    """solver.linear = 'iterative' without mobile ions warns (MUMPS still factorises heat and mechanics)."""
    load_study(ROOT / "studies" / "centred_3d.toml", ["sample.properties.partial_molar_volume=0.0", "solver.linear=iterative"])
    assert "solver.linear = 'iterative' is not used without mobile ions" in caplog.text


def test_mesh_accuracy_chooses_the_refinement_and_mesh_refinement_still_sets_it(caplog):
    """Without [mesh] keys a 3D study is meshed for mesh.accuracy 0.01 (refinement 0.45) and an
    axisymmetric one at refinement 1; a tighter accuracy refines by the model's rule (error ~
    refinement^-p); mesh.refinement is honoured as given; the resolved study loads to the same mesh."""
    from stimsim.study.modes import GeometryModel
    from stimsim.study.study import ACCURACY_RULES

    threed = with_change("geometry.model", '"3d"')
    study = study_from_dict(threed)
    assert study.mesh.refinement == ACCURACY_RULES[GeometryModel.THREE_D][0] == 0.45
    assert study.resolved["mesh"]["accuracy"] == 0.01 and "refinement" not in study.resolved["mesh"]
    assert study_from_dict({**threed, "mesh": study.resolved["mesh"]}).mesh == study.mesh
    refinements = [study_from_dict({**threed, "mesh": {"accuracy": a}}).mesh.refinement for a in (0.1, 0.01, 1e-3)]
    assert refinements[0] < refinements[1] < refinements[2]
    assert abs(refinements[2] / refinements[1] - 10 ** (1 / 3)) < 1e-12
    assert study_from_dict({**threed, "mesh": {"refinement": 0.3}}).mesh.refinement == 0.3
    both = study_from_dict({**threed, "mesh": {"refinement": 0.3, "accuracy": 1e-3}})  # refinement wins, warned
    assert both.mesh.refinement == 0.3 and both.mesh.accuracy is None and "accuracy" not in both.resolved["mesh"]
    assert "mesh.accuracy = 0.001 is not used: mesh.refinement = 0.3 sets the mesh" in caplog.text
    from stimsim.geometry.box import layer_heights

    ceria = load_study(ROOT / "studies" / "ceria_3d.toml")  # the issue's case: sqrt(D/omega) = a/5, three layers
    assert ceria.mesh.refinement == 0.45 and len(layer_heights(mesh_spec(ceria))) == 3
    axisymmetric = study_from_dict(base())
    assert axisymmetric.mesh.refinement == 1.0 and axisymmetric.mesh.accuracy is None
    assert study_from_dict({**base(), "mesh": {"accuracy": 0.01}}).mesh.refinement == 0.35


@pytest.mark.parametrize(
    "mesh, expected",
    [
        ({"accuracy": 0.5}, "mesh.accuracy = 0.5 is outside the accepted range [1e-05, 0.1]"),
        ({"accuracy": 0.0}, "mesh.accuracy = 0 is outside the accepted range [1e-05, 0.1]"),
    ],
)
def test_bad_mesh_accuracy_names_the_key(mesh, expected):
    assert expected in error_for({**base(), "mesh": mesh})
