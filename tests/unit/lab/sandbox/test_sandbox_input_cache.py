"""The cache of materialised Python-job inputs: written once, immutable, private, pruned safely."""

from __future__ import annotations

import os
import stat
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.lab.sandbox.command import SANDBOX_GID
from countyos.lab.sandbox.input_cache import cached_input, link_input, prune


@pytest.fixture
def version(tmp_path):
    """Two data files of one dataset version."""
    files = []
    for part in range(2):
        path = tmp_path / "lake" / f"part{part}.parquet"
        path.parent.mkdir(exist_ok=True)
        pq.write_table(pa.table({"pid": [f"P{part}{i}" for i in range(5)],
                                 "town": ["east"] * 5, "salary": [1.0] * 5}), path)
        files.append(str(path))
    return files


def test_a_version_and_column_set_is_written_once(tmp_path, version):
    cache = tmp_path / "cache"
    first = cached_input(cache, "people", version, ["pid", "town"])
    info = first.stat()
    second = cached_input(cache, "people", version, ["pid", "town"])
    assert second == first
    assert (second.stat().st_ino, second.stat().st_mtime_ns) == (info.st_ino, info.st_mtime_ns)
    table = pq.read_table(first)
    assert table.column_names == ["pid", "town"]          # only the granted columns
    assert table.num_rows == 10                            # every file of the version
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(info.st_mode) == 0o640             # not readable by other users
    if os.geteuid() == 0:
        assert info.st_gid == SANDBOX_GID                  # readable by the sandbox's group only
    assert [p.name for p in cache.iterdir()] == [first.name]   # no temporary left behind


def test_other_columns_or_changed_files_get_their_own_file(tmp_path, version):
    cache = tmp_path / "cache"
    base = cached_input(cache, "people", version, ["pid", "town"])
    assert cached_input(cache, "people", version, ["pid"]) != base
    assert cached_input(cache, "people", version, ["town", "pid"]) != base
    assert cached_input(cache, "people", version[:1], ["pid", "town"]) != base
    pq.write_table(pa.table({"pid": ["Z"], "town": ["west"], "salary": [2.0]}), version[1])
    changed = cached_input(cache, "people", version, ["pid", "town"])
    assert changed != base and pq.read_table(changed).num_rows == 6


def test_a_failed_write_leaves_nothing(tmp_path, version):
    cache = tmp_path / "cache"
    with pytest.raises(Exception):
        cached_input(cache, "people", version, ["pid", "no_such_column"])
    assert list(cache.iterdir()) == []


def test_a_jobs_link_survives_pruning(tmp_path, version):
    cache = tmp_path / "cache"
    cached = cached_input(cache, "people", version, ["pid"])
    linked = link_input(cached, tmp_path / "job1" / "inputs", "people")
    assert linked.stat().st_ino == cached.stat().st_ino   # a hard link, not a copy
    assert stat.S_IMODE((tmp_path / "job1" / "inputs").stat().st_mode) == 0o700
    assert prune(cache, max_entries=0) == [cached]
    assert not cached.exists()
    assert pq.read_table(linked)["pid"].to_pylist()[:2] == ["P00", "P01"]


def test_pruning_removes_the_least_recently_used_and_stale_temporaries(tmp_path, version):
    cache = tmp_path / "cache"
    old = cached_input(cache, "people", version, ["pid"])
    middle = cached_input(cache, "people", version, ["town"])
    new = cached_input(cache, "people", version, ["salary"])
    now = time.time()
    for age, path in ((300, old), (200, middle), (100, new)):
        os.utime(path, (now - age, path.stat().st_mtime))
    cached_input(cache, "people", version, ["pid"])          # a use makes it recent again
    stale = cache / ".people-x.parquet.abc.tmp"
    stale.write_bytes(b"partial")
    os.utime(stale, (now - 7200, now - 7200))
    fresh = cache / ".people-y.parquet.def.tmp"
    fresh.write_bytes(b"being written")
    assert prune(cache, max_entries=2) == [middle]
    assert old.exists() and new.exists() and fresh.exists() and not stale.exists()


def test_an_input_pruned_before_it_is_linked_is_written_again(tmp_path, version, monkeypatch):
    from countyos.lab.sandbox import input_cache

    cache = tmp_path / "cache"
    real_link = input_cache.link_input
    pruned = []

    def link_after_another_worker_pruned(cached, folder, name):
        if not pruned:
            pruned.append(cached)
            cached.unlink()
        return real_link(cached, folder, name)

    monkeypatch.setattr(input_cache, "link_input", link_after_another_worker_pruned)
    linked = input_cache.job_input(cache, tmp_path / "job" / "inputs", "people", version, ["pid"])
    assert pruned and pq.read_table(linked).column_names == ["pid"]
    assert linked.stat().st_ino == pruned[0].stat().st_ino   # linked to the rewritten file
