"""Material data: cited parameter sets in SI units, charged species and their equilibrium space-charge layers."""

from stimsim.materials.library import Material, ParameterSet, material
from stimsim.materials.species import Species, ElectroneutralPair
from stimsim.materials.spacecharge import SpaceChargeLayer

__all__ = ["Material", "ParameterSet", "material", "Species", "ElectroneutralPair", "SpaceChargeLayer"]
