"""Safety rails for live tuning; see `Guarded`.

``create_tuning_instance(parameters, algorithm, algorithm_args, safety={...})`` builds the same.
"""

from oppertune.algorithms.guarded import Guarded, SafetyEvent, guard

__all__ = ["Guarded", "SafetyEvent", "guard"]
