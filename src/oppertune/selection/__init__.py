"""Which configuration parameters are worth tuning.

Rank the parameters by how much of the reward's variation each explains, from logged rounds (a
history) or by live screening around the current configuration, then tune only the leading few and
hold the rest at their current values::

    from oppertune.selection import select

    result = select(parameters, history="rounds.csv")            # or evaluate=my_function / a tune spec
    result.ranking        # (name, importance, uncertainty, ...) most important first
    result.selected       # the names worth tuning
    create_tuning_instance(result.parameters())  # the others constant at their current values

Ranking from a history needs the ``select`` extra (scikit-learn); screening needs SciPy (the same extra).
"""

from oppertune.selection._errors import InsufficientDataError, SelectionError
from oppertune.selection._history import DroppedRow, History, HistoryRow, load_history
from oppertune.selection._remote import fetch_history
from oppertune.selection._result import Interaction, RankedParameter, SelectionResult, constant_at_current
from oppertune.selection._screening import Evaluation, neighbourhood
from oppertune.selection._select import SpecEvaluator, select, spec_evaluator

__all__ = [
    "DroppedRow",
    "Evaluation",
    "History",
    "HistoryRow",
    "InsufficientDataError",
    "Interaction",
    "RankedParameter",
    "SelectionError",
    "SelectionResult",
    "SpecEvaluator",
    "constant_at_current",
    "fetch_history",
    "load_history",
    "neighbourhood",
    "select",
    "spec_evaluator",
]
