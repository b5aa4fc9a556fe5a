"""The receiver's bare limit: write the same drop bytes to the same disk, one file each, with fsync.

    python -m bench.fsync_write DATA_DIR OUT_DIR

Same files as the landing zone holds (docs/DROP_FORMAT.md): per drop, the manifest line and the
gzip data of the upload body as two files, each fsynced (until 2026-11-25 the whole body went into
one file, half the files and fsyncs the receiver must make); the folder is fsynced once at the end.
"""

import os
import sys
from pathlib import Path

from bench.upload import drop_bodies


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv=None) -> int:
    data_dir, out_dir = (Path(a) for a in (argv or sys.argv[1:]))
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, body in enumerate(drop_bodies(data_dir)):
        manifest, gz = body.split(b"\n", 1)
        _write(out_dir / f"{i}.psv.gz", gz)
        _write(out_dir / f"{i}.manifest.json", manifest + b"\n")
    dfd = os.open(out_dir, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
