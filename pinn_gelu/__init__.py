"""pinn_gelu: physics-informed neural networks with smooth GELU activations.

The data path: problem file → :func:`load_problem` → :class:`Problem` → network
(:func:`build_network`) → residuals (:mod:`pinn_gelu.pdes`, :mod:`pinn_gelu.operators`) →
:func:`train` → :class:`TrainResult` (errors against the exact or reference solution) →
:func:`write_run` / :func:`load_run`.
"""

from .activations import ACTIVATIONS, Activation, parse_activation
from .compare import compare
from .config import Limits, NetworkConfig, TrainingConfig
from .diagnostics import term_gradient_norms
from .errors import ProblemFileError, TrainingError
from .expressions import parse_expression
from .networks import MLP, build_network, fixed_point_gain, second_moment
from .operators import divergence, gradient, hessian, laplacian, partial
from .outputs import load_run, write_comparison, write_run
from .problem import Problem
from .problem_file import load_problem
from .reference import solve_reference
from .training import TrainResult, train

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Activation",
    "Limits",
    "NetworkConfig",
    "Problem",
    "ProblemFileError",
    "TrainResult",
    "TrainingConfig",
    "TrainingError",
    "__version__",
    "build_network",
    "compare",
    "divergence",
    "fixed_point_gain",
    "gradient",
    "hessian",
    "laplacian",
    "load_problem",
    "load_run",
    "parse_activation",
    "parse_expression",
    "partial",
    "second_moment",
    "solve_reference",
    "term_gradient_norms",
    "train",
    "write_comparison",
    "write_run",
]
