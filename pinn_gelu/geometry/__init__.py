"""Geometry: boxes, primitive shapes, CSG regions, sampling with named parts and normals.

The box of a rectangular domain lives in :mod:`.box`; shapes with named boundary parts in
:mod:`.primitives`; region expressions such as ``"plate - hole"`` in :mod:`.csg`; interior and
boundary points of a region in :mod:`.sampling`; evaluation grids in :mod:`.grids`; triangular
meshes of 2D regions in :mod:`.mesh`.
"""

from pinn_gelu.geometry.box import SAMPLERS, Box, unit_samples

__all__ = ["SAMPLERS", "Box", "unit_samples"]
