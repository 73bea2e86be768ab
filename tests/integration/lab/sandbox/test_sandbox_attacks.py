"""Attacks by a hostile job on the real sandbox; each must be stopped and the lab keep serving.

Checks that happen inside the sandbox are written so that the job exits 0 only when every
attempt failed, and prints what leaked otherwise (the log is shown on failure).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from pathlib import Path

import pytest

from countyos.errors import InvalidInputError
from countyos.lab.sandbox import load_published_table, read_manifest
from countyos.settings import Settings

from .conftest import PROJECT, TEST_LIMITS, job_cgroups

PRELUDE = '''
import os, sys
leaks = []
def must_fail(label, action):
    try:
        action()
    except Exception:
        return
    leaks.append(label)
def finish():
    if leaks:
        print("LEAKED:", leaks)
        sys.exit(1)
'''


def must_succeed(result):
    assert result.succeeded, (result.status, result.reason, result.log_path.read_text()[-3000:])


def test_network_is_unreachable(run_job, lab_still_serves):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    abstract = f"\0countyos-test-{uuid.uuid4().hex}"
    unix_listener = socket.socket(socket.AF_UNIX)
    unix_listener.bind(abstract)
    unix_listener.listen()
    host_address = _host_address()
    try:
        result = run_job(PRELUDE + f'''
import socket
def connect(address):
    socket.create_connection(address, timeout=2).close()
def unix():
    s = socket.socket(socket.AF_UNIX)
    s.connect({abstract!r})
must_fail("host port", lambda: connect(("127.0.0.1", {port})))
must_fail("postgres", lambda: connect(("127.0.0.1", 5432)))
must_fail("outside", lambda: connect(("1.1.1.1", 53)))
must_fail("host address", lambda: connect(({host_address!r}, {port})))
must_fail("dns", lambda: socket.getaddrinfo("pypi.org", 443))
must_fail("abstract unix socket", unix)
finish()
''')
        must_succeed(result)
        with pytest.raises(socket.timeout):
            listener.accept()  # nothing ever reached the host
    finally:
        listener.close()
        unix_listener.close()
    lab_still_serves()


def _host_address() -> str:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def test_host_files_are_invisible(run_job, lab_still_serves, people_file, tmp_path, monkeypatch):
    settings = Settings(home=tmp_path / "home")
    settings.ensure_dirs()
    database = Path(settings.metadata_url.removeprefix("sqlite:///"))
    database.write_bytes(b"SQLite format 3\0")
    monkeypatch.setenv("COUNTYOS_TEST_SECRET", "host-secret-value")
    hidden = ["/etc/shadow", "/etc/ssh", "/root", "/home", "/work", str(PROJECT),
              str(PROJECT / "src"), str(database), str(settings.warehouse_dir), "/var", "/sys",
              "/run", str(people_file), str(people_file.with_name("salaries.parquet")),
              str(Path.home() / ".countyos")]
    result = run_job(PRELUDE + f'''
for path in {hidden!r}:
    if os.path.exists(path):
        leaks.append(path)
must_fail("/proc/1/environ", lambda: open("/proc/1/environ").read())
if os.listdir("/data") != ["people.parquet"]:
    leaks.append("/data lists " + repr(os.listdir("/data")))
if len([p for p in os.listdir("/proc") if p.isdigit()]) > 5:
    leaks.append("host processes visible")
if "host-secret-value" in open("/proc/self/environ").read() or "COUNTYOS_TEST_SECRET" in os.environ:
    leaks.append("host environment")
finish()
''')
    must_succeed(result)
    lab_still_serves()


def test_only_out_and_tmp_are_writable(run_job, lab_still_serves):
    result = run_job(PRELUDE + '''
import subprocess
for path in ["/usr/bin/evil", "/opt/venv/evil", "/opt/countyos/countyos_job.py", "/job/main.py",
             "/data/people.parquet", "/data/new.parquet", "/etc/passwd", "/evil", "/proc/evil"]:
    must_fail("write " + path, lambda: open(path, "ab").write(b"x"))
must_fail("chmod", lambda: os.chmod("/opt/countyos/countyos_job.py", 0o777))
open("/tmp/scratch", "w").write("fine")
with open("/out/run.sh", "w") as script:
    script.write("#!/bin/sh\\necho escaped\\n")
os.chmod("/out/run.sh", 0o755)
must_fail("exec from /out", lambda: subprocess.run(["/out/run.sh"], check=True))
finish()
''')
    must_succeed(result)
    lab_still_serves()


def test_job_has_no_privileges(run_job, lab_still_serves):
    result = run_job(PRELUDE + '''
import ctypes, subprocess
libc = ctypes.CDLL(None, use_errno=True)
if (os.getuid(), os.geteuid(), os.getgid()) != (65534, 65534, 65534):
    leaks.append("ids")
if os.getgroups() not in ([], [65534]):
    leaks.append("groups")
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
    if int(status[key], 16):
        leaks.append(key)
if status["NoNewPrivs"].strip() != "1" or status["Seccomp"].strip() != "2":
    leaks.append("no_new_privs/seccomp")
must_fail("setuid", lambda: os.setuid(0))
must_fail("chroot", lambda: os.chroot("/tmp"))
def call(result):
    if result != 0:
        raise OSError(ctypes.get_errno(), "refused")
must_fail("unshare user ns", lambda: call(libc.unshare(0x10000000)))
must_fail("mount", lambda: call(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)))
must_fail("ptrace", lambda: call(libc.ptrace(0, 0, None, None)))
must_fail("unshare tool", lambda: subprocess.run(["unshare", "-Ur", "id"], check=True,
                                                 capture_output=True))
must_fail("su", lambda: subprocess.run(["su", "-c", "id"], check=True, capture_output=True,
                                       stdin=subprocess.DEVNULL, timeout=5))
finish()
''')
    must_succeed(result)
    lab_still_serves()


LIMIT_ATTACKS = {
    "fork bomb": ("""
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
""", {"cpu_seconds": 2}, "processes"),
    "allocate 50 GB": ("import numpy\nblock = numpy.ones(50 * 1024**3 // 8)\n", {}, "memory"),
    "grow memory slowly": ("""
chunks = []
while True:
    chunks.append(bytearray(32 * 1024**2))
""", {}, "memory"),
    "infinite loop": ("while True:\n    pass\n", {"cpu_seconds": 2}, "cpu"),
    "cpu in parallel processes": ("""
import multiprocessing
def spin(_):
    while True:
        pass
with multiprocessing.get_context("fork").Pool(4) as pool:
    pool.map(spin, range(4))
""", {"cpu_seconds": 2}, "cpu"),
    "sleep forever": ("import time\ntime.sleep(10**6)\n", {"wall_seconds": 3}, "timeout"),
    "write 1 GB": ("""
with open("/out/big.bin", "wb") as handle:
    for _ in range(1024):
        handle.write(b"x" * 1024**2)
""", {}, "output_too_large"),
    "millions of files": ("""
for n in range(10**6):
    open(f"/out/f{n}", "w").close()
""", {}, "output_too_large"),
    "flood stdout": ("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", {},
                     "output_too_large"),
    "fill /tmp": ("""
with open("/tmp/big.bin", "wb") as handle:
    for _ in range(1024):
        handle.write(b"x" * 1024**2)
""", {}, "tmp_full"),
}


@pytest.mark.parametrize("attack", list(LIMIT_ATTACKS))
def test_limit_attacks_are_stopped_with_their_reason(run_job, lab_still_serves, attack):
    source, overrides, reason = LIMIT_ATTACKS[attack]
    limits = dataclasses.replace(TEST_LIMITS, **overrides)
    result = run_job(source, limits=limits)
    assert result.status in ("failed", "killed")
    assert result.reason == reason, result.log_path.read_text()[-2000:]
    assert list(result.output_dir.iterdir()) == []
    assert result.log_path.stat().st_size <= limits.log_bytes
    assert job_cgroups(result.job_id) == []
    lab_still_serves()


def test_background_processes_die_with_the_job(run_job, lab_still_serves):
    marker = f"countyos-marker-{uuid.uuid4().hex}"
    result = run_job(f'''
import subprocess
subprocess.Popen(["{marker}", "100000"], executable="/usr/bin/sleep", start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
''')
    must_succeed(result)
    survivors = []
    for entry in Path("/proc").iterdir():
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                survivors.append(entry.name)
        except OSError:
            continue
    assert survivors == []
    lab_still_serves()


def test_links_out_of_out_are_not_followed(run_job, lab_still_serves):
    result = run_job('''
import os, countyos_job
countyos_job.publish_table("t", countyos_job.read("people"), by=["town"], entity="pid")
os.remove("/out/t.table.parquet")
os.symlink("/etc/shadow", "/out/t.table.parquet")
os.symlink("/etc", "/out/etc")
''')
    must_succeed(result)
    assert not (result.output_dir / "etc").exists()
    assert not os.path.lexists(result.output_dir / "t.table.parquet")
    with pytest.raises(InvalidInputError, match="missing"):
        read_manifest(result.output_dir)
    lab_still_serves()


def test_forged_release_table_is_caught(run_job, lab_still_serves):
    result = run_job('''
import countyos_job, pyarrow as pa, pyarrow.parquet as pq
countyos_job.publish_table("t", countyos_job.read("people"), by=["town"], entity="pid")
released = pq.read_table("/out/t.table.parquet")
forged = released.set_column(1, "count", pa.array([1, 2, 3], pa.int64()))
pq.write_table(forged, "/out/t.table.parquet")
''')
    must_succeed(result)
    [output] = read_manifest(result.output_dir)
    with pytest.raises(InvalidInputError, match="differ from the checked"):
        load_published_table(output)
    lab_still_serves()
