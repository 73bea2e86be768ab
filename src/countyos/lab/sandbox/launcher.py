"""The first process of a sandboxed job, on the host side: join cgroups, set limits, exec bwrap.

Run by the runner as ``<host python> -I -S launcher.py <config.json>`` in a new session. It writes
its own pid into the job's cgroups *before* anything of the job exists (so no process of the job
can start outside them), lowers its priority, sets the resource limits every descendant inherits,
and replaces itself with bubblewrap. The config file names ``procs_files``, ``rlimits`` (resource
name → [soft, hard]), ``nice`` and ``argv``.

Standard library only, no ``countyos`` imports (it runs with ``-I -S``). It must not run job code
itself and must not stay alive after ``execv``. Exit status 125 means the launcher failed (its
message is in the job log).
"""

import json
import os
import resource
import sys

LAUNCHER_FAILED = 125


def main(argv):
    """Apply the config named by ``argv[1]`` and exec the sandbox; returns only on failure."""
    try:
        with open(argv[1], encoding="utf-8") as handle:
            config = json.load(handle)
        pid = str(os.getpid())
        for procs_file in config["procs_files"]:
            with open(procs_file, "w") as procs:
                procs.write(pid)
        os.setpriority(os.PRIO_PROCESS, 0, int(config.get("nice", 0)))
        for name, (soft, hard) in config["rlimits"].items():
            resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))
        command = config["argv"]
        os.execv(command[0], command)
    except Exception as error:  # noqa: BLE001 - any failure is reported the same way
        sys.stderr.write(f"countyos sandbox launcher failed: {type(error).__name__}: {error}\n")
        sys.stderr.flush()
    return LAUNCHER_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv))
