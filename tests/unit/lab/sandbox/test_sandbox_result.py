"""Explaining how a job ended, from facts a hostile job can partly forge."""

from __future__ import annotations

import json
import signal

import pytest

from countyos.lab.sandbox.cgroups import CgroupUsage
from countyos.lab.sandbox.result import (
    ALLOWED_ERROR_CLASSES,
    JobStatus,
    RunFacts,
    explain,
    read_status,
    whitelisted_error_class,
)

STARTED = {"event": "started"}


def write_status(path, *records, raw=b""):
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + raw)
    return path


def finished(code=0, mro=None, number=None):
    return {"event": "finished", "exit_code": code, "error_mro": mro, "errno": number}


def facts(code=0, status=None, killed_by=None, usage=None, out_full=False):
    return RunFacts(code, status or JobStatus(True, True, code), killed_by,
                    usage or CgroupUsage(), out_full, 5)


def test_clean_exit_succeeds():
    assert explain(facts()) == ("succeeded", None, None)


@pytest.mark.parametrize("run, expected", [
    (facts(137, JobStatus(True), usage=CgroupUsage(oom_kills=1)), ("killed", "memory")),
    (facts(1, JobStatus(True, True, 1, "MemoryError")), ("failed", "memory")),
    (facts(137, JobStatus(True), killed_by="cpu", usage=CgroupUsage(fork_refusals=40)),
     ("killed", "processes")),
    (facts(1, JobStatus(True, True, 1, "OSError", 27)), ("failed", "output_too_large")),
    (facts(1, JobStatus(True, True, 1, "OSError", 28), out_full=True),
     ("failed", "output_too_large")),
    (facts(1, JobStatus(True, True, 1, "OSError", 28)), ("failed", "tmp_full")),
    (facts(137, JobStatus(True), killed_by="output_too_large"), ("killed", "output_too_large")),
    (facts(128 + signal.SIGXCPU, JobStatus(True)), ("killed", "cpu")),
    (facts(137, JobStatus(True), usage=CgroupUsage(cpu_seconds=5.2)), ("killed", "cpu")),
    (facts(137, JobStatus(True), killed_by="cpu"), ("killed", "cpu")),
    (facts(137, JobStatus(True), killed_by="timeout"), ("killed", "timeout")),
    (facts(1, JobStatus(True, True, 1, "ZeroDivisionError")), ("failed", "exception")),
    (facts(128 + signal.SIGSEGV, JobStatus(True)), ("killed", "signal")),
    (facts(3, JobStatus(True, True, 3)), ("failed", "exit_code")),
    (facts(0, JobStatus(True, True, 0), out_full=True), ("failed", "output_too_large")),
    (facts(1, JobStatus(False)), ("failed", "sandbox_error")),
])
def test_each_ending_gets_its_reason(run, expected):
    status, reason, _ = explain(run)
    assert (status, reason) == expected


def test_status_channel_is_parsed_and_sanitised(tmp_path):
    path = write_status(tmp_path / "s", STARTED,
                        finished(1, ["Income5000Error", "ValueError", "Exception"], None))
    status = read_status(path)
    assert status == JobStatus(True, True, 1, "ValueError", None)


def test_forged_records_cannot_carry_data(tmp_path):
    forged = finished(1, ["Zhang San earns 5000"], 99999)
    status = read_status(write_status(tmp_path / "s", STARTED, forged, raw=b"garbage\n"))
    assert status.error_class is None and status.error_number is None
    assert read_status(write_status(tmp_path / "t", STARTED, finished("x"))).exit_code is None


def test_started_must_come_first(tmp_path):
    # a record written before the bootstrap's own "started" cannot exist; one after it is ignored
    status = read_status(write_status(tmp_path / "s", finished(0), STARTED))
    assert not status.started
    assert read_status(tmp_path / "missing") == JobStatus()


def test_only_the_first_64_kib_are_read(tmp_path):
    path = write_status(tmp_path / "s", STARTED, raw=b"x" * 70_000 + b"\n" +
                        json.dumps(finished(0)).encode())
    assert read_status(path).finished is False


def test_whitelist_holds_builtins_and_the_api_errors_only():
    assert {"ValueError", "MemoryError", "KeyError", "PublishError"} <= ALLOWED_ERROR_CLASSES
    assert "SecretError" not in ALLOWED_ERROR_CLASSES
    assert whitelisted_error_class(["SecretError", "LookupError"]) == "LookupError"
    assert whitelisted_error_class("ValueError") is None
    assert whitelisted_error_class([1, None]) is None
