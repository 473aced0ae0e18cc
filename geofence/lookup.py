"""Point → leaf cell, vectorised, for batches of fixes.

The answer must equal shapely's: a point strictly inside a cell gets that cell; a point on an
edge or corner shared by several cells gets the one with the smallest id (shapely's ``within``
gives none there; ``intersects`` gives all, and the smallest id is the documented choice); a
point outside every cell gets None.

How: the leaf cells are rasterised once (OpenCV ``fillPoly``) into a label image over the
grid's extent, and every pixel any cell boundary passes through — widened by one pixel on
each side — is marked uncertain. A point in a certain pixel takes the pixel's label with one
array lookup. A point in an uncertain pixel is tested exactly (``shapely.contains_xy``)
against the few cells labelled around it; what is still undecided (a point on an edge, a cell
smaller than a pixel) goes to shapely's ``STRtree`` with ``intersects``. Every answer is
therefore shapely's own; the raster only decides where exact tests are unnecessary.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import cv2
import numpy as np
import shapely

from .grid import GridCell

_SHIFT = 8  # fractional bits of the vertex coordinates handed to OpenCV
_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _cell(stored: np.ndarray) -> np.ndarray:
    """The filled cell of raster values, certain or not (-1: none)."""
    stored = stored.astype(np.int64)
    return np.where(stored <= -2, -(stored + 3), stored)


class CellIndex:
    """Point → leaf cell (see the module docstring for the rule and the method)."""

    PIXELS_PER_CELL = 6400  # raster resolution: about 80 × 80 pixels per cell …
    MAX_SIDE = 8192  # … up to 8192 pixels a side (256 MB of labels at most)

    def __init__(self, leaves: Iterable[GridCell]):
        cells = sorted(leaves, key=lambda c: c.id)
        self._ids = np.array([c.id for c in cells], dtype=object)
        self._geoms = np.array([c.geometry for c in cells], dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        self._label: np.ndarray | None = None
        if len(cells):
            self._rasterise()

    def __len__(self) -> int:
        return len(self._ids)

    def _rasterise(self) -> None:
        west, south, east, north = shapely.total_bounds(self._geoms)
        width, height = max(east - west, 1e-9), max(north - south, 1e-9)
        side = math.sqrt(self.PIXELS_PER_CELL * len(self._geoms))
        pixel = max(math.sqrt(width * height) / side, width / self.MAX_SIDE, height / self.MAX_SIDE)
        nx, ny = math.ceil(width / pixel), math.ceil(height / pixel)
        label = np.full((ny + 2, nx + 2), -1, dtype=np.int32)  # a one-pixel margin all round
        edges = np.zeros((ny + 2, nx + 2), dtype=np.uint8)
        scale = 1 << _SHIFT

        def to_pixels(ring) -> np.ndarray:
            xy = np.asarray(ring.coords)
            # pixel k covers [k, k+1) here; OpenCV centres pixel k on k, hence the half pixel
            u = (xy[:, 0] - west) / pixel + 1 - 0.5
            v = (xy[:, 1] - south) / pixel + 1 - 0.5
            return np.round(np.column_stack((u, v)) * scale).astype(np.int32)

        for i, geom in enumerate(self._geoms):
            for poly in getattr(geom, "geoms", [geom]):
                rings = [to_pixels(poly.exterior)] + [to_pixels(r) for r in poly.interiors]
                cv2.fillPoly(label, rings, int(i), lineType=cv2.LINE_8, shift=_SHIFT)
                cv2.polylines(edges, rings, True, 1, thickness=1, lineType=cv2.LINE_8, shift=_SHIFT)
        uncertain = cv2.dilate(edges, np.ones((3, 3), np.uint8)).astype(bool)
        # one array, one memory access per point: a certain pixel holds its cell (or -1, no
        # cell); an uncertain one holds -(cell + 3), keeping the cell it was filled with
        label[uncertain] = -(label[uncertain] + 3)
        self._label = label.astype(np.int16) if len(self._geoms) < 32_000 else label
        self._origin = (west, south)
        self._pixel = pixel
        self._size = (nx, ny)

    def lookup_indices(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Index into the id-sorted leaves for each point, -1 outside every cell."""
        lons = np.asarray(lons, dtype=float)
        lats = np.asarray(lats, dtype=float)
        out = np.full(len(lons), -1, dtype=np.int64)
        if self._label is None or not len(lons):
            return out
        west, south = self._origin
        nx, ny = self._size
        u = (lons - west) / self._pixel + 1
        v = (lats - south) / self._pixel + 1
        on = np.nonzero((u >= 1) & (u < nx + 1) & (v >= 1) & (v < ny + 1))[0]  # NaN is never inside
        ix, iy = u[on].astype(np.int64), v[on].astype(np.int64)
        cell = self._label[iy, ix]
        unsure = cell <= -2
        sure = ~unsure
        out[on[sure]] = cell[sure]
        # on the edge of the extent the raster cannot help: such points go to the exact path
        edge = (u == nx + 1) | (v == ny + 1)
        hard = np.concatenate([on[unsure], np.nonzero(edge)[0]])
        if len(hard):
            out[hard] = self._exact(lons[hard], lats[hard], ix[unsure], iy[unsure], len(hard))
        return out

    def _exact(self, lons: np.ndarray, lats: np.ndarray, ix: np.ndarray, iy: np.ndarray, n: int) -> np.ndarray:
        res = np.full(n, -1, dtype=np.int64)
        k = len(ix)  # the first k points have pixels; the rest lie on the extent's far edge
        if k:
            # cells do not overlap, so at most one candidate contains a point strictly;
            # the cell its own pixel was filled with is the likeliest: test it first
            own = -(self._label[iy, ix].astype(np.int64) + 3)
            mine = np.nonzero(own >= 0)[0]
            inside = shapely.contains_xy(self._geoms[own[mine]], lons[mine], lats[mine])
            res[mine[inside]] = own[mine[inside]]
            todo = np.nonzero(res[:k] < 0)[0]
            if len(todo):
                cand = np.stack([_cell(self._label[iy[todo] + dy, ix[todo] + dx]) for dy, dx in _NEIGHBOURS], axis=1)
                cand[cand == own[todo, None]] = -1  # already tested
                cand.sort(axis=1)
                first = np.ones(cand.shape, dtype=bool)
                first[:, 1:] = cand[:, 1:] != cand[:, :-1]
                rows, cols = np.nonzero(first & (cand >= 0))
                cells = cand[rows, cols]
                inside = shapely.contains_xy(self._geoms[cells], lons[todo[rows]], lats[todo[rows]])
                res[todo[rows[inside]]] = cells[inside]
        rest = np.nonzero(res < 0)[0]
        if len(rest):
            hit_point, hit_cell = self._tree.query(shapely.points(lons[rest], lats[rest]), predicate="intersects")
            if len(hit_point):
                order = np.lexsort((hit_cell, hit_point))
                hit_point, hit_cell = hit_point[order], hit_cell[order]
                firsts = np.unique(hit_point, return_index=True)[1]
                res[rest[hit_point[firsts]]] = hit_cell[firsts]  # the smallest id on shared edges
        return res

    def lookup(self, lons: Sequence[float] | np.ndarray, lats: Sequence[float] | np.ndarray) -> list[str | None]:
        idx = self.lookup_indices(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        out = np.full(len(idx), None, dtype=object)
        found = idx >= 0
        out[found] = self._ids[idx[found]]
        return out.tolist()

    def lookup_one(self, lon: float, lat: float) -> str | None:
        return self.lookup([lon], [lat])[0]
