"""Township boundaries tile the county: closed rings, shared edges, no gaps or overlaps."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from countyos.demo import COUNTY_CODE, generate_county
from countyos.demo.geography import ring_area_km2
from tests.unit.demo.demo_helpers import points_in_ring


def _rings(county):
    return [f["geometry"]["coordinates"][0] for f in county.geojson["features"]]


def test_feature_collection_shape(county):
    geojson = county.geojson
    assert geojson["type"] == "FeatureCollection"
    assert 18 <= len(geojson["features"]) <= 22
    for feature, township in zip(geojson["features"], county.townships):
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Polygon"
        assert len(feature["geometry"]["coordinates"]) == 1  # no holes
        properties = feature["properties"]
        assert properties["code"] == township.code
        assert properties["name"] == township.name_zh
        assert properties["name_pinyin"] == township.name_pinyin


def test_rings_are_closed_counter_clockwise_and_simple(county):
    for ring in _rings(county):
        assert len(ring) >= 4
        assert ring[0] == ring[-1]
        x = np.array([p[0] for p in ring])
        y = np.array([p[1] for p in ring])
        signed_area = (x[:-1] * y[1:] - x[1:] * y[:-1]).sum() / 2
        assert signed_area > 0  # RFC 7946: exterior rings are counter-clockwise
        segments = list(zip(ring[:-1], ring[1:]))
        for i, (a, b) in enumerate(segments):
            for j in range(i + 2, len(segments)):
                if i == 0 and j == len(segments) - 1:
                    continue  # neighbours through the closing point
                c, d = segments[j]
                assert not _segments_cross(a, b, c, d), "self-intersecting ring"


def _segments_cross(a, b, c, d) -> bool:
    def orient(p, q, r):
        return np.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))
    return (orient(a, b, c) != orient(a, b, d)) and (orient(c, d, a) != orient(c, d, b))


def test_neighbours_share_edges_exactly(county):
    directed = Counter()
    for ring in _rings(county):
        for a, b in zip(ring[:-1], ring[1:]):
            directed[(tuple(a), tuple(b))] += 1
    for (a, b), count in directed.items():
        assert count == 1, "an edge used twice in the same direction means an overlap"
    undirected = Counter(frozenset(edge) for edge in directed)
    assert max(undirected.values()) == 2
    shared = sum(1 for c in undirected.values() if c == 2)
    assert shared > len(undirected) / 2  # most edges are internal
    # The edges of one township only must form a single closed loop: the county's outline.
    outline = [tuple(edge) for edge, count in undirected.items() if count == 1]
    neighbours = defaultdict(list)
    for a, b in outline:
        neighbours[a].append(b)
        neighbours[b].append(a)
    assert all(len(n) == 2 for n in neighbours.values())
    start = outline[0][0]
    previous, current, steps = None, start, 0
    while True:
        following = [p for p in neighbours[current] if p != previous][0]
        previous, current, steps = current, following, steps + 1
        if current == start:
            break
    assert steps == len(outline), "gaps or overlaps leave more than one outline"


def test_every_point_inside_the_county_lies_in_exactly_one_township(county):
    rings = _rings(county)
    west, south, east, north = county.geojson["bbox"]
    x, y = np.meshgrid(np.linspace(west, east, 173), np.linspace(south, north, 167))
    x, y = x.ravel(), y.ravel()
    hits = sum(points_in_ring(ring, x, y).astype(int) for ring in rings)
    # The county's outline: the edges that belong to one township only.
    edges = Counter(frozenset((tuple(a), tuple(b))) for ring in rings
                    for a, b in zip(ring[:-1], ring[1:]))
    inside_county = np.zeros(len(x), dtype=bool)
    for edge, count in edges.items():
        if count == 1:
            inside_county ^= points_in_ring([list(p) for p in edge], x, y)
    assert inside_county.mean() > 0.7
    assert (hits[inside_county] == 1).all(), "a gap or an overlap inside the county"
    assert (hits[~inside_county] == 0).all(), "a township reaches outside the county"


def test_area_and_location_are_plausible(county):
    total = sum(t.area_km2 for t in county.townships)
    assert 1_200 < total < 1_800
    assert abs(total - sum(ring_area_km2(r) for r in _rings(county))) < 1
    for township in county.townships:
        lon, lat = township.centroid
        assert 121.0 < lon < 121.5 and 29.85 < lat < 30.3
        assert township.area_km2 > 20


def test_township_codes_kinds_and_names(county):
    kinds = Counter(t.kind for t in county.townships)
    assert set(kinds) <= {"镇", "街道", "乡"} and kinds["镇"] > 0 and kinds["街道"] > 0
    for township in county.townships:
        assert len(township.code) == 9 and township.code.startswith(COUNTY_CODE)
        number = int(township.code[6:])
        expected = "街道" if number < 100 else "镇" if number < 200 else "乡"
        assert township.kind == expected
        assert township.name_zh.endswith(township.kind)
        assert township.name_pinyin.isascii() and township.name_pinyin
    assert len({t.name_zh for t in county.townships}) == len(county.townships)
    assert sum(t.population for t in county.townships) == county.dataset(
        "population_registry").num_rows


def test_other_seeds_give_valid_tilings_too():
    for seed in (1, 2):
        other = generate_county(0.002, seed)
        test_rings_are_closed_counter_clockwise_and_simple(other)
        test_neighbours_share_edges_exactly(other)
