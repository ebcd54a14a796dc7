"""The notebook API: `lmlab.train()`, `lmlab.load()`, `lmlab.compare()`, `lmlab.sweep()` and `Run`.

Each calls the library functions the matching command calls; tables come back as pandas DataFrames
(`pip install 'lmlab[notebook]'`) and figures as matplotlib Figures that Jupyter shows inline.
"""

from lmlab.api.experiments import Comparison, Sweep, compare, sweep
from lmlab.api.run import Run
from lmlab.api.training import load, train

__all__ = ["Comparison", "Run", "Sweep", "compare", "load", "sweep", "train"]
