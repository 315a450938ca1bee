"""Run one command and write its wall time and peak memory as JSON: the measuring parent of ``cli_bench.py``.

``python -I -S benchmarks/measure_process.py RESULT_FILE COMMAND [ARG...]``

Why a process of its own: Linux keeps a process's peak resident set size across ``execve``, and a
child starts from its parent's at ``fork``. Measured from ``cli_bench.py`` itself (which holds the
local Lambda endpoint, moto and all, ~58 MiB), every tool's peak read at least that much: the
aws CLI, bare boto3 and lambda-ue all showed the same 58.1 MiB. This parent imports nothing but the
standard library's smallest modules (a few MiB), so the child's figure is the child's own.

stdin, stdout and stderr are the command's. Exits with the command's exit code.
"""

import json
import os
import sys
import time


def main() -> int:
    result_file, command = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child becomes the command
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    # wait4 hands back this child's own rusage.
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    with open(result_file, "w", encoding="utf-8") as out:
        json.dump({"seconds": elapsed, "peak_kib": usage.ru_maxrss, "exit_code": code}, out)
    return code


if __name__ == "__main__":
    sys.exit(main())
