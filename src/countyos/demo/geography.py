"""Townships of the Demo County and their boundaries.

Owns the fictional county code, the fixed list of 20 fictional townships (codes, names, pinyin,
kind, weights for where people and firms are) and the GeoJSON that tiles the county with one
polygon per township. It must not generate residents or firms: it only says where they go.

The county code ``330299`` sits under Ningbo (3302) where no real county uses ``99``, so no
identifier built on it (resident IDs, credit codes) can belong to a real person or company.
Township codes follow GB/T 10114: ``001``–``099`` subdistricts (街道), ``100``–``199`` towns (镇),
``200``–``399`` townships (乡).

Boundaries: a 5 x 4 grid of uneven columns and rows over about 1,500 km² around lon 121.05–121.45,
lat 29.90–30.25, whose vertices are jittered once and whose edges are bent once by a smooth
offset, so neighbours share edges exactly and the polygons tile the county without gaps or
overlaps. Rings are counter-clockwise (RFC 7946).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

COUNTY_CODE = "330299"
COUNTY_NAME_ZH = "舜川县"
COUNTY_NAME_EN = "Shunchuan County (demo)"
COUNTY_SHORT_ZH = "舜川"

WEST, EAST, SOUTH, NORTH = 121.05, 121.45, 29.90, 30.25
GRID_COLUMNS, GRID_ROWS = 5, 4
_COLUMN_WIDTHS = (1.2, 1.0, 0.85, 0.9, 1.15)
_ROW_HEIGHTS = (1.25, 0.85, 0.85, 1.05)  # south (mountains) to north (coastal plain)
_EDGE_POINTS = 6  # segments per shared edge
_VERTEX_JITTER = 0.14  # share of the smaller neighbouring cell size
_EDGE_BEND = 0.035  # share of the edge length

KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_EQUATOR = 111.320


@dataclass(frozen=True)
class TownshipSpec:
    """Fixed facts of one township: identity, grid cell and relative weights.

    ``people`` weighs the residents, ``industry`` the manufacturing firms, ``services`` the other
    firms; ``ageing`` shifts the age pyramid (> 0 older, mountain villages; < 0 younger, city).
    """

    suffix: str
    name_zh: str
    name_pinyin: str
    kind: str
    row: int
    column: int
    people: float
    industry: float
    services: float
    ageing: float

    @property
    def code(self) -> str:
        """9-digit administrative code."""
        return COUNTY_CODE + self.suffix

    @property
    def short_name(self) -> str:
        """The name without its kind (青溪 for 青溪街道)."""
        return self.name_zh.removesuffix(self.kind)


TOWNSHIPS: tuple[TownshipSpec, ...] = (
    TownshipSpec("001", "青溪街道", "Qingxi Jiedao", "街道", 2, 1, 9.0, 2.0, 9.0, -0.4),
    TownshipSpec("002", "云湖街道", "Yunhu Jiedao", "街道", 2, 2, 9.5, 1.5, 10.0, -0.5),
    TownshipSpec("003", "明川街道", "Mingchuan Jiedao", "街道", 2, 3, 8.0, 2.5, 8.0, -0.4),
    TownshipSpec("004", "兰汀街道", "Lanting Jiedao", "街道", 1, 1, 6.5, 4.0, 6.0, -0.2),
    TownshipSpec("005", "瑞泽街道", "Ruize Jiedao", "街道", 1, 2, 7.5, 5.0, 7.0, -0.3),
    TownshipSpec("006", "澄波街道", "Chengbo Jiedao", "街道", 1, 3, 6.0, 6.0, 5.0, -0.2),
    TownshipSpec("101", "梅墅镇", "Meishu Zhen", "镇", 3, 0, 5.0, 8.0, 3.0, 0.0),
    TownshipSpec("102", "石埠镇", "Shibu Zhen", "镇", 3, 1, 5.5, 9.0, 3.0, 0.0),
    TownshipSpec("103", "芦塘镇", "Lutang Zhen", "镇", 3, 2, 6.0, 10.0, 3.5, -0.1),
    TownshipSpec("104", "望海镇", "Wanghai Zhen", "镇", 3, 3, 5.0, 9.0, 3.0, 0.0),
    TownshipSpec("105", "沙岙镇", "Sha'ao Zhen", "镇", 3, 4, 4.0, 7.0, 2.5, 0.1),
    TownshipSpec("106", "桐溪镇", "Tongxi Zhen", "镇", 2, 0, 4.0, 6.0, 2.5, 0.1),
    TownshipSpec("107", "鹤汀镇", "Heting Zhen", "镇", 2, 4, 4.0, 6.5, 2.5, 0.1),
    TownshipSpec("108", "柏川镇", "Baichuan Zhen", "镇", 1, 0, 3.5, 4.0, 2.0, 0.2),
    TownshipSpec("109", "泉湾镇", "Quanwan Zhen", "镇", 1, 4, 3.5, 4.5, 2.0, 0.2),
    TownshipSpec("110", "南岭镇", "Nanling Zhen", "镇", 0, 0, 2.0, 1.5, 1.0, 0.5),
    TownshipSpec("111", "竹岚镇", "Zhulan Zhen", "镇", 0, 1, 1.8, 1.0, 1.0, 0.6),
    TownshipSpec("112", "云岫镇", "Yunxiu Zhen", "镇", 0, 2, 2.2, 1.5, 1.2, 0.5),
    TownshipSpec("113", "茶岭镇", "Chaling Zhen", "镇", 0, 4, 2.0, 1.2, 1.0, 0.6),
    TownshipSpec("201", "松岩乡", "Songyan Xiang", "乡", 0, 3, 0.9, 0.3, 0.4, 0.8),
)


def township_polygons(rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """One closed counter-clockwise ring of (lon, lat) per township, in ``TOWNSHIPS`` order."""
    widths = np.array(_COLUMN_WIDTHS) * rng.uniform(0.9, 1.1, GRID_COLUMNS)
    heights = np.array(_ROW_HEIGHTS) * rng.uniform(0.9, 1.1, GRID_ROWS)
    xs = WEST + (EAST - WEST) * np.concatenate([[0.0], np.cumsum(widths) / widths.sum()])
    ys = SOUTH + (NORTH - SOUTH) * np.concatenate([[0.0], np.cumsum(heights) / heights.sum()])
    cell_w = np.diff(xs)
    cell_h = np.diff(ys)
    # Vertex (i, j): row line i (0..rows), column line j (0..columns); jittered once.
    vertices = np.empty((GRID_ROWS + 1, GRID_COLUMNS + 1, 2))
    for i in range(GRID_ROWS + 1):
        for j in range(GRID_COLUMNS + 1):
            near_w = min(cell_w[max(j - 1, 0)], cell_w[min(j, GRID_COLUMNS - 1)])
            near_h = min(cell_h[max(i - 1, 0)], cell_h[min(i, GRID_ROWS - 1)])
            vertices[i, j, 0] = xs[j] + rng.uniform(-1, 1) * _VERTEX_JITTER * near_w
            vertices[i, j, 1] = ys[i] + rng.uniform(-1, 1) * _VERTEX_JITTER * near_h
    horizontal = {
        (i, j): _bent_edge(vertices[i, j], vertices[i, j + 1], rng)
        for i in range(GRID_ROWS + 1) for j in range(GRID_COLUMNS)
    }
    vertical = {
        (i, j): _bent_edge(vertices[i, j], vertices[i + 1, j], rng)
        for i in range(GRID_ROWS) for j in range(GRID_COLUMNS + 1)
    }
    rings = []
    for spec in TOWNSHIPS:
        i, j = spec.row, spec.column
        points = (
            horizontal[(i, j)][:-1]
            + vertical[(i, j + 1)][:-1]
            + horizontal[(i + 1, j)][::-1][:-1]
            + vertical[(i, j)][::-1][:-1]
        )
        rings.append(points + [points[0]])
    return rings


def _bent_edge(start: np.ndarray, end: np.ndarray, rng: np.random.Generator
               ) -> list[tuple[float, float]]:
    """Points from ``start`` to ``end``, bent sideways by a smooth offset zero at both ends."""
    steps = np.linspace(0.0, 1.0, _EDGE_POINTS + 1)
    direction = end - start
    length = float(np.hypot(*direction))
    normal = np.array([-direction[1], direction[0]]) / length
    phases = rng.uniform(-1, 1, 2)
    offset = _EDGE_BEND * length * (
        phases[0] * np.sin(np.pi * steps) + 0.5 * phases[1] * np.sin(2 * np.pi * steps))
    points = (start[None, :] + steps[:, None] * direction[None, :]
              + offset[:, None] * normal[None, :])
    points[0], points[-1] = start, end
    return [(round(float(x), 6), round(float(y), 6)) for x, y in points]


def ring_area_km2(ring: list[tuple[float, float]]) -> float:
    """Area of a (lon, lat) ring in km², on a local equirectangular projection."""
    lon = np.array([p[0] for p in ring])
    lat = np.array([p[1] for p in ring])
    scale_x = KM_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(float(lat.mean())))
    x, y = lon * scale_x, lat * KM_PER_DEGREE_LAT
    return abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))) / 2


def ring_centroid(ring: list[tuple[float, float]]) -> tuple[float, float]:
    """Area centroid (lon, lat) of a closed ring."""
    x = np.array([p[0] for p in ring])
    y = np.array([p[1] for p in ring])
    cross = x[:-1] * y[1:] - x[1:] * y[:-1]
    area = cross.sum() / 2
    cx = ((x[:-1] + x[1:]) * cross).sum() / (6 * area)
    cy = ((y[:-1] + y[1:]) * cross).sum() / (6 * area)
    return round(float(cx), 6), round(float(cy), 6)


def feature_collection(rings: list[list[tuple[float, float]]], populations: list[int]
                       ) -> dict[str, Any]:
    """The GeoJSON FeatureCollection of the townships (properties code, name, name_pinyin, ...)."""
    features = []
    for spec, ring, population in zip(TOWNSHIPS, rings, populations):
        features.append({
            "type": "Feature",
            "id": spec.code,
            "properties": {
                "code": spec.code,
                "name": spec.name_zh,
                "name_pinyin": spec.name_pinyin,
                "kind": spec.kind,
                "population": population,
                "area_km2": round(ring_area_km2(ring), 2),
            },
            "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        })
    return {
        "type": "FeatureCollection",
        "name": COUNTY_NAME_ZH,
        "bbox": _bbox(rings),
        "features": features,
    }


def _bbox(rings: list[list[tuple[float, float]]]) -> list[float]:
    lons = [p[0] for ring in rings for p in ring]
    lats = [p[1] for ring in rings for p in ring]
    return [min(lons), min(lats), max(lons), max(lats)]
