"""Coordinates: GCJ-02 (Chinese web maps) to WGS-84, and a metric frame for a city.

GCJ-02 is an obfuscation of WGS-84, not a datum PROJ knows; prcoords inverts it iteratively
to millimetres. Distances, areas and buffers are taken in metres in a local azimuthal
equidistant projection centred on the city (pyproj), where a city-sized area is distorted by
well under a part in a thousand.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Callable

import numpy as np
import prcoords
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry.base import BaseGeometry


class CoordinateSystem(StrEnum):
    WGS84 = "WGS84"
    GCJ02 = "GCJ02"


def _each_vertex(geom: BaseGeometry, convert: Callable[[prcoords.Coords], prcoords.Coords]) -> BaseGeometry:
    def apply(xy: np.ndarray) -> np.ndarray:
        out = np.empty_like(xy)
        for i, (lon, lat) in enumerate(xy):
            c = convert(prcoords.Coords(lat, lon))
            out[i] = (c.lon, c.lat)
        return out

    return shapely.transform(geom, apply)


def gcj02_to_wgs84(geom: BaseGeometry) -> BaseGeometry:
    """Every vertex of geom from GCJ-02 to WGS-84 (outside China GCJ-02 equals WGS-84)."""
    return _each_vertex(geom, lambda c: prcoords.gcj_wgs_bored(c, True))


def wgs84_to_gcj02(geom: BaseGeometry) -> BaseGeometry:
    """The inverse, for making test data and for exporting to Chinese web maps."""
    return _each_vertex(geom, lambda c: prcoords.wgs_gcj(c, True))


_GEOD = Geod(ellps="WGS84")


def geodesic_area_m2(geom: BaseGeometry) -> float:
    """Area on the WGS-84 ellipsoid, in m²."""
    return abs(_GEOD.geometry_area_perimeter(geom)[0])


class MetricFrame:
    """WGS-84 ⇄ metres around a centre point."""

    def __init__(self, lon: float, lat: float):
        local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs")
        self._fwd = Transformer.from_crs("EPSG:4326", local, always_xy=True)
        self._inv = Transformer.from_crs(local, "EPSG:4326", always_xy=True)

    @classmethod
    def around(cls, geom: BaseGeometry) -> "MetricFrame":
        c = geom.centroid
        return cls(c.x, c.y)

    # GeoJSON edges are straight in longitude/latitude (RFC 7946), which is curved in metres:
    # edges are cut into pieces of at most this many degrees (about 100 m) before projecting
    SEGMENT_DEG = 0.001

    def to_metres(self, geom: BaseGeometry) -> BaseGeometry:
        dense = shapely.segmentize(geom, self.SEGMENT_DEG)
        return shapely.transform(dense, lambda xy: np.column_stack(self._fwd.transform(xy[:, 0], xy[:, 1])))

    def to_degrees(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: np.column_stack(self._inv.transform(xy[:, 0], xy[:, 1])))
