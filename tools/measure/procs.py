"""The local stack's processes as Linux's /proc shows them: which server each one is, its RSS and CPU time."""

import os
from collections import defaultdict

from tools.stack import localstack_s3
from tools.stack.local_stack import CHALICE_LOCAL_MODULE, LOCAL_STACK_MODULE, MOTO_SERVER_MODULE

# What each process of make run's stack has in its argv (`python -m <module>`), and the name it is reported by.
ROLES = (
    (MOTO_SERVER_MODULE, 'moto server'),
    (localstack_s3.ARGV[-1], 'LocalStack'),
    (CHALICE_LOCAL_MODULE, 'chalice local'),
    (LOCAL_STACK_MODULE, 'local stack'),
)


def children() -> dict[int, list[int]]:
    """Every process's children, by parent PID."""
    found: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    found[int(f.read().rsplit(')', 1)[1].split()[1])].append(int(entry))
            except OSError:
                continue
    return found


def role(pid: int) -> str | None:
    """Which of the stack's processes ``pid`` is ('moto server', 'LocalStack', ...), None if none or gone."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            argv = f.read().split(b'\0')
    except OSError:
        return None
    return next((name for module, name in ROLES if module.encode() in argv), None)


def below(root_pid: int) -> list[int]:
    """``root_pid`` and every process below it."""
    tree, todo, found = children(), [root_pid], []
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def stack_processes(root_pid: int) -> dict[str, int]:
    """The chalice local, moto server and LocalStack PIDs below a `python -m tools.stack.local_stack` process."""
    found = {}
    for pid in below(root_pid)[1:]:
        name = role(pid)
        if name is not None and name != 'local stack':
            found[name] = pid
    return found


def rss_mib(pid: int) -> float | None:
    """The process's resident memory in MiB; None once it is gone."""
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (/proc/<pid>/stat)."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
