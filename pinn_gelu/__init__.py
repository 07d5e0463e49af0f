"""pinn_gelu: physics-informed neural networks with smooth GELU activations.

The data path: problem file → :func:`load_problem` → :class:`Problem` → network
(:func:`build_network`) → loss (:mod:`pinn_gelu.loss`) → :func:`train` (the phases of
``training.schedule``, :data:`OPTIMISERS`) → :class:`TrainResult` (errors against the exact or
reference solution) → :func:`write_run` / :func:`load_run`.

The public API is :data:`__all__`; the building blocks (operators, derivative engines, the
loss, configuration dataclasses, references) are in their modules, e.g.
:func:`pinn_gelu.derivatives.operators.laplacian`.
"""

from pinn_gelu.activations import parse_activation
from pinn_gelu.compare import compare
from pinn_gelu.config import Limits
from pinn_gelu.errors import ProblemFileError, TrainingError
from pinn_gelu.model.networks import MLP, build_network
from pinn_gelu.optimisers import OPTIMISERS
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file import load_problem
from pinn_gelu.reference import solve_reference
from pinn_gelu.runs.writers import load_run, write_run
from pinn_gelu.training import Trainer, TrainResult, train

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "OPTIMISERS",
    "Limits",
    "Problem",
    "ProblemFileError",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "__version__",
    "build_network",
    "compare",
    "load_problem",
    "load_run",
    "parse_activation",
    "solve_reference",
    "train",
    "write_run",
]
