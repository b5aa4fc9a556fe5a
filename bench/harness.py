"""Run a command as a real process and measure wall time and peak RSS (its own, via wait4)."""

import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    """One process run: wall seconds, peak resident set in MiB, exit status."""

    label: str
    wall_s: float
    peak_rss_mib: float
    returncode: int

    def as_dict(self) -> dict:
        return asdict(self)


def measure(
    label: str,
    argv: list[str],
    *,
    env: dict | None = None,
    cwd: Path | None = None,
    stdin=None,
    stdout=subprocess.DEVNULL,
    timeout_s: float = 3600,
) -> Measurement:
    """Run ``argv`` to completion; raise with its stderr tail when it fails."""
    stderr_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{label.replace(' ', '_')}.err"
    with open(stderr_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=err)
        deadline = start + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise TimeoutError(f"bench {label}: {argv[0]} ran over {timeout_s:.0f} s")
            time.sleep(0.01)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = stderr_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"bench {label}: {' '.join(map(str, argv))} exited {proc.returncode}:\n{tail}")
    stderr_path.unlink(missing_ok=True)
    # ru_maxrss is in KiB on Linux.
    return Measurement(label, round(wall, 3), round(usage.ru_maxrss / 1024, 1), proc.returncode)
