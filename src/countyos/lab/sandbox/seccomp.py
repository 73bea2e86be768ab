"""The seccomp filter of sandboxed jobs: a classic-BPF program handed to bubblewrap.

Owns :func:`seccomp_program`, the bytes bwrap loads with ``--seccomp FD``. The filter is a
deny-list in the style of Flatpak's: it allows the ordinary system calls numerical Python needs and
refuses (``EPERM``) the ones that only widen the kernel attack surface or escape isolation —
creating namespaces (``unshare``, ``setns``, ``clone`` with namespace flags), mounting, tracing
other processes, keyrings, BPF, perf, userfaultfd, io_uring, kernel modules, kexec, reboot, swap,
accounting. ``clone3`` answers ``ENOSYS`` (its flags sit in memory the filter cannot read; libc
then falls back to ``clone``). Any other architecture than the kernel's own (e.g. 32-bit calls on
x86-64) and the x32 ABI are killed.

Syscall numbers are taken from the kernel headers of x86-64 (``asm/unistd_64.h``) and of the
generic table aarch64 uses (``asm-generic/unistd.h``). Only x86-64 is exercised by the test suite.
This module must not run anything; it only builds bytes.
"""

from __future__ import annotations

import platform
import struct

# Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
_LD_W_ABS = 0x00 | 0x00 | 0x20
_JMP_JEQ_K = 0x05 | 0x10 | 0x00
_JMP_JGE_K = 0x05 | 0x30 | 0x00
_JMP_JSET_K = 0x05 | 0x40 | 0x00
_RET_K = 0x06 | 0x00

# seccomp return values (linux/seccomp.h).
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_EPERM = 1
_ENOSYS = 38

# Offsets in struct seccomp_data.
_OFFSET_NR = 0
_OFFSET_ARCH = 4
_OFFSET_ARG0_LOW = 16  # little-endian: the low 32 bits of args[0]

_X32_SYSCALL_BIT = 0x40000000

# Namespace flags refused in clone(2)'s flags (CLONE_NEWTIME overlaps the exit-signal byte there).
CLONE_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)

#: System calls refused with EPERM, by name.
DENIED_SYSCALLS: tuple[str, ...] = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "vhangup", "lookup_dcookie",
    "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "uselib",
)

_X86_64 = {
    "clone": 56, "clone3": 435, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166,
    "pivot_root": 155, "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "keyctl": 250, "add_key": 248,
    "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "kexec_load": 246,
    "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
    "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163, "syslog": 103, "quotactl": 179,
    "vhangup": 153, "lookup_dcookie": 212, "open_by_handle_at": 304, "name_to_handle_at": 303,
    "iopl": 172, "ioperm": 173, "uselib": 134,
}

_AARCH64 = {
    "clone": 220, "clone3": 435, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39,
    "pivot_root": 41, "chroot": 51, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 117,
    "process_vm_readv": 270, "process_vm_writev": 271, "keyctl": 219, "add_key": 217,
    "request_key": 218, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "kexec_load": 104,
    "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
    "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89, "syslog": 116, "quotactl": 60,
    "vhangup": 58, "lookup_dcookie": 18, "open_by_handle_at": 265, "name_to_handle_at": 264,
}

#: machine name → (AUDIT_ARCH value, syscall table, whether the x32 bit must be refused)
_ARCHITECTURES = {
    "x86_64": (0xC000003E, _X86_64, True),
    "aarch64": (0xC00000B7, _AARCH64, False),
}


def supported_machine(machine: str | None = None) -> bool:
    """Whether a filter can be built for this CPU architecture (``platform.machine()``)."""
    return (machine or platform.machine()) in _ARCHITECTURES


def seccomp_program(machine: str | None = None) -> bytes:
    """The filter as an array of ``struct sock_filter``, ready for ``bwrap --seccomp``.

    Args:
        machine: CPU architecture name (default: this machine's).

    Returns:
        The BPF program bytes (8 bytes per instruction, native byte order).

    Raises:
        ValueError: no syscall table for this architecture (see :func:`supported_machine`).
    """
    machine = machine or platform.machine()
    if machine not in _ARCHITECTURES:
        raise ValueError(f"no seccomp filter for the {machine} architecture")
    audit_arch, table, refuse_x32 = _ARCHITECTURES[machine]
    program: list[tuple] = [
        ("ld", _OFFSET_ARCH),
        ("jeq", audit_arch, None, "kill"),
        ("ld", _OFFSET_NR),
    ]
    if refuse_x32:
        program.append(("jge", _X32_SYSCALL_BIT, "kill", None))
    program.append(("jeq", table["clone"], "clone_flags", None))
    program.append(("jeq", table["clone3"], "enosys", None))
    for name in DENIED_SYSCALLS:
        if name in table:
            program.append(("jeq", table[name], "deny", None))
    program += [
        ("ret", _RET_ALLOW),
        ("label", "clone_flags"),
        ("ld", _OFFSET_ARG0_LOW),
        ("jset", CLONE_NAMESPACE_FLAGS, "deny", None),
        ("ret", _RET_ALLOW),
        ("label", "deny"),
        ("ret", _RET_ERRNO | _EPERM),
        ("label", "enosys"),
        ("ret", _RET_ERRNO | _ENOSYS),
        ("label", "kill"),
        ("ret", _RET_KILL_PROCESS),
    ]
    return _assemble(program)


def _assemble(program: list[tuple]) -> bytes:
    """Resolve labels to relative jumps and pack ``struct sock_filter`` entries."""
    positions: dict[str, int] = {}
    index = 0
    for instruction in program:
        if instruction[0] == "label":
            positions[instruction[1]] = index
        else:
            index += 1
    packed = bytearray()
    index = 0
    for instruction in program:
        kind = instruction[0]
        if kind == "label":
            continue
        if kind == "ld":
            packed += struct.pack("=HBBI", _LD_W_ABS, 0, 0, instruction[1])
        elif kind == "ret":
            packed += struct.pack("=HBBI", _RET_K, 0, 0, instruction[1])
        else:
            opcode = {"jeq": _JMP_JEQ_K, "jge": _JMP_JGE_K, "jset": _JMP_JSET_K}[kind]
            _, constant, if_true, if_false = instruction
            jump_true = _offset(positions, if_true, index)
            jump_false = _offset(positions, if_false, index)
            packed += struct.pack("=HBBI", opcode, jump_true, jump_false, constant)
        index += 1
    return bytes(packed)


def _offset(positions: dict[str, int], label: str | None, index: int) -> int:
    if label is None:
        return 0
    distance = positions[label] - index - 1
    if not 0 <= distance <= 255:
        raise ValueError("seccomp program too long for a relative jump")
    return distance
