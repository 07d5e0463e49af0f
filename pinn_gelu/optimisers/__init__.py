"""The optimisers that train a PINN, one per phase of ``training.schedule``: :data:`OPTIMISERS`.

Each is one module with its configuration section and its stepper (:mod:`.adam`, :mod:`.lbfgs`,
:mod:`.gauss_newton`) on the base of :mod:`.base`. A new optimiser is a new module and one entry
here (or ``OPTIMISERS[name] = cls`` from outside): the problem file then accepts its name in
``training.schedule`` and its section ``training.<name>``, and the driver runs it.
"""

from pinn_gelu.optimisers.adam import Adam, AdamConfig
from pinn_gelu.optimisers.base import Context, Optimiser, Resources, Step, gradient_max
from pinn_gelu.optimisers.gauss_newton import GaussNewton, GaussNewtonConfig
from pinn_gelu.optimisers.lbfgs import LBFGS, LBFGSConfig

__all__ = [
    "LBFGS",
    "OPTIMISERS",
    "Adam",
    "AdamConfig",
    "Context",
    "GaussNewton",
    "GaussNewtonConfig",
    "LBFGSConfig",
    "Optimiser",
    "Resources",
    "Step",
    "gradient_max",
]

#: The optimisers by phase name: the names ``training.schedule`` accepts, in the order their
#: sections are documented.
OPTIMISERS: dict[str, type[Optimiser]] = {
    "adam": Adam,
    "lbfgs": LBFGS,
    "gauss_newton": GaussNewton,
}
