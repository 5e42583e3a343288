"""What the AFM records: the contact resonance, lock-in detection, DART and SHO fits, the Hertz contact."""

from stimsim.instrument.afm import Resonance, LockIn, HertzContact, dart, fit_sho

__all__ = ["Resonance", "LockIn", "HertzContact", "dart", "fit_sho"]
