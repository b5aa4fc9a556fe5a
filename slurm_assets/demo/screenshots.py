"""``make screenshots``: the README's pictures of the dashboard, taken in a real browser over the demo data.

    python -m slurm_assets.demo.screenshots --data-dir DIR [--out docs/screenshots] [--days 30] [--demo-days 45]

1. The demo data: ``python -m slurm_assets.demo.stack --data-dir DIR --no-serve --days N`` (the
   real path: agent drops, ``process``; a second call only adds the days since the last one).
2. ``streamlit run streamlit_app/app.py`` on a free loopback port over DIR.
3. Debian's ``/usr/bin/chromium`` driven by Playwright (no browser is downloaded) opens
   each page in ``PAGES`` over the last ``--days`` days, waits until the script run
   finished and every chart has drawn, and writes ``OUT/<page>.png``.

Exit codes: 0 pictures written, 1 a step failed (with the reason), 2 bad arguments.
"""

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from slurm_assets.demo.services import REPO_ROOT, free_port, streamlit_argv, terminate, wait_answering

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# file name -> (URL path and page query, heading to wait for)
PAGES = {
    "overview": ("", "Overview"),
    "usage": ("usage?stack=account", "Usage"),
    "explorer": ("explorer?metric=mean_wait_h&dim=partition", "Explorer"),
    "utilization": ("utilization?per=cluster", "Utilization"),
    "users_accounts": ("users_accounts", "Users & accounts"),
    "queue": ("queue", "Queue"),
    "efficiency": ("efficiency", "Efficiency"),
    "jobs": ("jobs", "Jobs"),
    "data_status": ("data_status", "Data status"),
}
SETTLED = (  # the app reports its script run state; charts have drawn; no placeholder left
    "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
    " === 'notRunning' && [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
    ".every(e => e.querySelector('svg.main-svg')) && !document.querySelector('[data-testid=\"stSkeleton\"]')"
)


def log(msg: str) -> None:
    print(f"[screenshots] {msg}", flush=True)


def shoot(url: str, out: Path, query: str) -> None:
    """One full-page PNG per page of PAGES."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name, (path, title) in PAGES.items():
                sep = "&" if "?" in path else "?"
                page.goto(f"{url}/{path}{sep if path else '?'}{query}")
                page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=120_000)
                page.wait_for_function(SETTLED, timeout=120_000)
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                log(f"{out / f'{name}.png'}")
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m slurm_assets.demo.screenshots", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, required=True, help="the demo's DATA_DIR (made if missing)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots", help="where the PNGs go")
    p.add_argument("--days", type=int, default=30, help="days shown, ending today (default 30)")
    p.add_argument("--demo-days", type=int, default=45, help="days of demo history for a new DATA_DIR (default 45)")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        log(f"{CHROMIUM} is missing: apt-get install chromium")
        return 1
    data_dir = args.data_dir.resolve()
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "slurm_assets.demo.stack",
            "--data-dir",
            str(data_dir),
            "--no-serve",
            "--days",
            str(args.demo_days),
        ],
        cwd=REPO_ROOT,
        check=False,
    )
    if demo.returncode != 0:
        log(f"the demo data step failed (exit {demo.returncode}); see its output above")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"SLURM_USAGE_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        streamlit_argv(port, "127.0.0.1", "--server.fileWatcherType", "none"),
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        if not wait_answering(f"{url}/_stcore/health", proc, timeout=180.0):
            log(f"the dashboard did not answer on {url}")
            return 1
        end = dt.datetime.now(dt.UTC).date()
        start = end - dt.timedelta(days=args.days - 1)
        shoot(url, args.out, f"range=custom&start={start}&end={end}&grain=day")
    finally:
        terminate(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
