import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wangge.demo.registry import DemoContext
from wangge.regions import synth


def _street(code="510104017"):
    street = next(s for s in synth.streets() if s.code == code)
    comms = [c for c in synth.communities() if c.parent_code == code][:3]
    return street, shapely.box(104.06, 30.62, 104.08, 30.64), comms


def _specs(seed):
    street, geom, comms = _street()
    ctx = DemoContext(seed=seed, verbose=False)
    return list(synth._street_tree(street, geom, 30_000.0, comms, ctx.rng))


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_generator_is_deterministic_for_a_seed(seed):
    a, b = _specs(seed), _specs(seed)
    assert [(s.code, s.name, s.kind) for s in a] == [(s.code, s.name, s.kind) for s in b]
    assert all(x.geom.equals_exact(y.geom, 0) for x, y in zip(a, b, strict=True))


def test_different_seeds_give_different_cities():
    a, b = _specs(1), _specs(2)
    assert any(not x.geom.equals_exact(y.geom, 1e-9) for x, y in zip(a, b, strict=False))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    weights=st.lists(st.floats(min_value=0.2, max_value=5), min_size=1, max_size=12),
)
def test_partition_covers_parent_without_overlap(seed, weights):
    parent = shapely.Polygon(
        [(104.0, 30.6), (104.1, 30.6), (104.12, 30.7), (104.03, 30.68), (104.05, 30.65)]
    )
    pieces = synth.partition(parent, np.array(weights), np.random.default_rng(seed))
    assert len(pieces) == len(weights)
    assert all(not p.is_empty and p.is_valid for p in pieces)
    total = sum(p.area for p in pieces)
    assert abs(total - parent.area) < 1e-9 * 1e4
    assert shapely.union_all(pieces).symmetric_difference(parent).area < 1e-9
    for i in range(len(pieces)):
        for j in range(i + 1, len(pieces)):
            assert pieces[i].intersection(pieces[j]).area < 1e-12


def test_partition_areas_follow_weights():
    parent = shapely.box(104.0, 30.6, 104.1, 30.7)
    weights = np.array([1, 2, 4, 1, 2, 4, 1, 2])
    pieces = synth.partition(parent, weights, np.random.default_rng(7))
    shares = np.array([p.area for p in pieces]) / parent.area
    expected = weights / weights.sum()
    # Voronoi cells around k-d seeds: close to, not exactly, the weights
    assert np.corrcoef(shares, expected)[0, 1] > 0.8


def test_real_reference_data():
    assert len(synth.districts()) == 20
    assert len(synth.streets()) == 261
    assert len(synth.communities()) == 3047
    assert {z[1] for z in synth.zones()} == {"四川天府新区成都直管区", "成都东部新区", "成都高新区"}
    assert synth.short_community_name("八宝街社区居民委员会") == "八宝街社区"
    assert synth.short_community_name("石桥村民委员会") == "石桥村"
    assert synth.short_community_name("石桥村委会") == "石桥村"
