"""Runs one lab job's script inside the sandbox and tells the runner how it ended.

Mounted read-only at ``/opt/countyos/bootstrap.py`` and started as
``/opt/venv/bin/python -I -B -u /opt/countyos/bootstrap.py /job/main.py``. It writes JSON lines to
the status channel (the file descriptor in ``COUNTYOS_STATUS_FD``): ``{"event": "started"}`` once
the sandbox is up, then ``{"event": "finished", "exit_code", "error_mro", "errno"}``. The traceback
goes to stderr, i.e. to the job log in the trusted zone, never to the submitter.

The job runs in this same process, so it can write to the channel too: the runner treats what it
reads as untrusted (it keeps only whitelisted exception class names and maps errno values to
reasons). Standard library only. It must not import ``countyos``.
"""

import json
import os
import runpy
import sys
import traceback


def _status_writer():
    descriptor = os.environ.pop("COUNTYOS_STATUS_FD", None)
    if descriptor is None:
        return lambda record: None
    channel = os.fdopen(int(descriptor), "w", buffering=1, encoding="utf-8", closefd=True)
    os.set_inheritable(channel.fileno(), False)

    def emit(record):
        try:
            channel.write(json.dumps(record) + "\n")
            channel.flush()
        except (OSError, ValueError):
            pass

    return emit


def _exit_code(code):
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def main():
    """Run ``sys.argv[1]`` as ``__main__`` and report; returns the process exit status."""
    emit = _status_writer()
    emit({"event": "started"})
    # -I leaves the bootstrap's directory off sys.path; it holds countyos_job.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    script = sys.argv[1]
    sys.argv = [script]
    exit_code, error_mro, error_number = 0, None, None
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        exit_code = _exit_code(stop.code)
    except BaseException as error:  # noqa: BLE001 - the job's failure is reported, not raised
        traceback.print_exc()
        exit_code = 1
        error_mro = [cls.__name__ for cls in type(error).__mro__]
        if isinstance(error, OSError) and isinstance(error.errno, int):
            error_number = error.errno
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    emit({"event": "finished", "exit_code": exit_code, "error_mro": error_mro,
          "errno": error_number})
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
