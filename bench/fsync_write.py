"""The receiver's bare limit: write the same drop bytes to the same disk, one file each, with fsync.

    python -m bench.fsync_write DATA_DIR OUT_DIR
"""

import os
import sys
from pathlib import Path

from bench.upload import drop_bodies


def main(argv=None) -> int:
    data_dir, out_dir = (Path(a) for a in (argv or sys.argv[1:]))
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, body in enumerate(drop_bodies(data_dir)):
        fd = os.open(out_dir / f"{i}.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
    dfd = os.open(out_dir, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
