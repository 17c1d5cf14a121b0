"""Tuning algorithms and the registry that builds them by name.

Algorithm modules are imported on first use, so importing this package stays cheap.
"""

from oppertune.algorithms.base import TuningInstance
from oppertune.algorithms.registry import ALGORITHMS, DEFAULT_ALGORITHM, create_tuning_instance, get_algorithm_class

__all__ = ["ALGORITHMS", "DEFAULT_ALGORITHM", "TuningInstance", "create_tuning_instance", "get_algorithm_class"]
