"""pinn_gelu: physics-informed neural networks with smooth GELU activations.

The data path: problem file → :func:`load_problem` → :class:`Problem` → :class:`Model` (the
network, what wraps it, unknowns) → loss → :func:`train` (the phases of ``training.schedule``,
:data:`OPTIMISERS`) → :class:`TrainResult` (errors against the exact or reference solution) →
:func:`write_run` / :func:`load_run` (a :class:`Solution`).

The public API is :data:`__all__`; the building blocks (derivative engines, the loss,
configuration dataclasses, references, geometry) are in their folders, e.g.
:func:`pinn_gelu.derivatives.operators.laplacian`.
"""

from pinn_gelu.activations import parse_activation
from pinn_gelu.compare import compare
from pinn_gelu.config import Limits
from pinn_gelu.diagnostics import term_gradient_norms
from pinn_gelu.errors import ProblemFileError
from pinn_gelu.model.model import Model
from pinn_gelu.model.networks import build_network
from pinn_gelu.optimisers import OPTIMISERS
from pinn_gelu.problem import Problem
from pinn_gelu.problem_file import load_problem
from pinn_gelu.reference import solve_reference
from pinn_gelu.runs.load import Solution, load_run
from pinn_gelu.runs.writers import write_run
from pinn_gelu.training import Trainer, TrainResult, train

__version__ = "0.1.0"

__all__ = [
    "OPTIMISERS",
    "Limits",
    "Model",
    "Problem",
    "ProblemFileError",
    "Solution",
    "TrainResult",
    "Trainer",
    "__version__",
    "build_network",
    "compare",
    "load_problem",
    "load_run",
    "parse_activation",
    "solve_reference",
    "term_gradient_norms",
    "train",
    "write_run",
]
