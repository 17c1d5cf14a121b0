"""OPPerTune: tune the configuration of live software from a reward signal."""

__version__ = "0.1.0"
