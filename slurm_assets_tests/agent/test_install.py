"""agent/install.sh into a temporary root (DESTDIR): files, modes and owners; the service user
created in the staged /etc/passwd (never the host's); an edited config kept across a re-install;
--no-systemd, --user (cron) and --uninstall [--purge]; `systemd-analyze verify` on the units as
installed, and their hardening settings.
"""

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from slurm_assets_tests.agent.conftest import AGENT_DIR

NAME = "slurm-usage-history-exporter"
INSTALL = AGENT_DIR / "install.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install.sh sets owners: needs root (chown)")


def staged_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    for name in ("shadow", "gshadow"):
        (root / "etc" / name).write_text("")
    return root


def run_install(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["bash", str(INSTALL), *args],
        env={**os.environ, "DESTDIR": str(root), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def mode_owner(path: Path) -> tuple[str, int, int]:
    st = path.lstat()
    return oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid


def service_ids(root: Path) -> tuple[int, int]:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "slurm-usage":
            return int(fields[2]), int(fields[3])
    raise AssertionError("slurm-usage not in the staged /etc/passwd")


def test_system_install_files_modes_and_owners(tmp_path):
    host_passwd = Path("/etc/passwd").read_text()
    root = staged_root(tmp_path)
    run_install(root)
    assert Path("/etc/passwd").read_text() == host_passwd  # the host is untouched
    uid, gid = service_ids(root)
    assert uid != 0 and gid != 0
    expected = {
        f"opt/{NAME}/{NAME}.py": ("0o755", 0, 0),
        f"opt/{NAME}/config.json.example": ("0o644", 0, 0),
        f"opt/{NAME}/README.md": ("0o644", 0, 0),
        f"usr/local/bin/{NAME}": ("0o755", 0, 0),
        f"etc/{NAME}": ("0o750", 0, gid),
        f"etc/{NAME}/config.json": ("0o600", uid, gid),  # holds the key: service user only
        f"var/lib/{NAME}": ("0o750", uid, gid),
        f"var/spool/{NAME}": ("0o750", uid, gid),
        f"etc/systemd/system/{NAME}.service": ("0o644", 0, 0),
        f"etc/systemd/system/{NAME}.timer": ("0o644", 0, 0),
    }
    for rel, want in expected.items():
        assert mode_owner(root / rel) == want, rel
    assert (root / f"opt/{NAME}/{NAME}.py").read_bytes() == (AGENT_DIR / f"{NAME}.py").read_bytes()
    wrapper = (root / f"usr/local/bin/{NAME}").read_text()
    assert f"/opt/{NAME}/{NAME}.py" in wrapper and str(root) not in wrapper  # real paths, not staged ones
    config = json.loads((root / f"etc/{NAME}/config.json").read_text())
    assert config == json.loads((AGENT_DIR / "config.json.example").read_text())
    assert not (root / "etc/cron.d").exists()


def test_installed_wrapper_runs_the_agent(tmp_path):
    root = staged_root(tmp_path)
    run_install(root)
    wrapper = (root / f"usr/local/bin/{NAME}").read_text().replace(f"/opt/{NAME}", f"{root}/opt/{NAME}")
    (tmp_path / "wrapper").write_text(wrapper)
    proc = subprocess.run(
        ["sh", str(tmp_path / "wrapper"), "--version"], capture_output=True, text=True, check=True
    )
    assert proc.stdout.startswith(NAME)


def test_reinstall_keeps_an_edited_config_and_updates_the_program(tmp_path):
    root = staged_root(tmp_path)
    run_install(root)
    config = root / f"etc/{NAME}/config.json"
    edited = '{"api_url": "https://usage.example.org", "api_key": "edited-by-the-admin"}\n'
    config.write_text(edited)
    program = root / f"opt/{NAME}/{NAME}.py"
    program.write_text("# an old version\n")
    proc = run_install(root)
    assert config.read_text() == edited
    assert "keeping existing" in proc.stdout
    assert program.read_bytes() == (AGENT_DIR / f"{NAME}.py").read_bytes()
    assert (root / "etc/passwd").read_text().count("slurm-usage:") == 1  # user not created twice


def test_units_pass_systemd_analyze_verify_and_are_hardened(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze missing: apt-get install systemd")
    root = staged_root(tmp_path)
    run_install(root)
    unit_dir = root / "etc/systemd/system"
    # verify resolves ExecStart= on the real filesystem; give it the staged wrapper's path.
    exe = Path(f"/usr/local/bin/{NAME}")
    created = not exe.exists()
    if created:
        exe.write_text((root / f"usr/local/bin/{NAME}").read_text())
        exe.chmod(0o755)
    try:
        proc = subprocess.run(
            [
                "systemd-analyze",
                "verify",
                "--man=no",
                str(unit_dir / f"{NAME}.service"),
                str(unit_dir / f"{NAME}.timer"),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
        )
    finally:
        if created:
            exe.unlink()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.strip() == "", proc.stderr  # no warnings either
    service = (unit_dir / f"{NAME}.service").read_text()
    for line in (
        "User=slurm-usage",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        f"ReadWritePaths=/var/lib/{NAME} /var/spool/{NAME}",
        "CapabilityBoundingSet=\n",
        "Type=oneshot",
    ):
        assert line in service, line
    timer = (unit_dir / f"{NAME}.timer").read_text()
    for line in ("OnCalendar=*-*-* 02:00:00", "Persistent=true", "RandomizedDelaySec="):
        assert line in timer, line


def test_no_systemd_installs_a_cron_entry(tmp_path):
    root = staged_root(tmp_path)
    run_install(root, "--no-systemd")
    assert not (root / "etc/systemd/system").exists()
    cron = (root / f"etc/cron.d/{NAME}").read_text()
    assert f"2 * * * slurm-usage /usr/local/bin/{NAME} --config /etc/{NAME}/config.json" in cron
    assert mode_owner(root / f"etc/cron.d/{NAME}")[0] == "0o644"


def test_user_mode_installs_under_home_and_prints_the_crontab_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # As root, --user insists on DESTDIR (it would otherwise write root-owned files into $HOME).
    proc = run_install(tmp_path / "stage", "--user", env={"HOME": str(home)})
    base = tmp_path / "stage" / str(home).lstrip("/")
    config = base / f".config/{NAME}/config.json"
    assert mode_owner(config)[0] == "0o600"
    values = json.loads(config.read_text())
    assert values["spool_dir"] == f"{home}/.local/state/{NAME}/spool"
    assert values["state_file"] == f"{home}/.local/state/{NAME}/state.json"
    assert (base / f".local/bin/{NAME}").exists()
    line = next(x for x in proc.stdout.splitlines() if x.startswith("17 2 * * * "))
    assert (
        line == f"17 2 * * * {home}/.local/bin/{NAME} --config {home}/.config/{NAME}/config.json "
        f">>{home}/.local/state/{NAME}/cron.log 2>&1"
    )


def test_uninstall_keeps_data_and_purge_removes_everything(tmp_path):
    root = staged_root(tmp_path)
    run_install(root)
    (root / f"var/spool/{NAME}/alpha.2024-05-01.x.psv.gz").write_bytes(b"undelivered")
    run_install(root, "--uninstall")
    assert not (root / f"opt/{NAME}").exists() and not (root / f"usr/local/bin/{NAME}").exists()
    assert not (root / f"etc/systemd/system/{NAME}.service").exists()
    assert (root / f"etc/{NAME}/config.json").exists()
    assert (root / f"var/spool/{NAME}/alpha.2024-05-01.x.psv.gz").exists()  # undelivered drops kept
    run_install(root, "--uninstall", "--purge")
    for rel in (f"etc/{NAME}", f"var/lib/{NAME}", f"var/spool/{NAME}"):
        assert not (root / rel).exists(), rel
    assert "slurm-usage:" not in (root / "etc/passwd").read_text()


def test_install_refuses_an_old_python(tmp_path):
    root = staged_root(tmp_path)
    old = Path("/root/.pyenv/versions/3.7.16/bin/python3.7")
    if not old.exists():
        pytest.skip("no Python 3.7 on this machine to play the old python3")
    proc = subprocess.run(
        ["bash", str(INSTALL), "--python", str(old)],
        env={**os.environ, "DESTDIR": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and "Python >= 3.8" in proc.stderr
