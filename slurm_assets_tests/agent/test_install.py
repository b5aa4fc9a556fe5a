"""agent/install.sh into a temporary root (DESTDIR): files, modes and owners; the service user
created in the staged /etc/passwd (never the host's); an edited config kept across a re-install;
--no-systemd, --user (cron) and --uninstall [--purge]; `systemd-analyze verify` on the units as
installed, and their hardening settings.
"""

import json
import os
import shutil
import stat
import sys
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
    proc = subprocess.run(["sh", str(tmp_path / "wrapper"), "--version"], capture_output=True, text=True, check=True)
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


# ---- issue 18: uninstall removes only what install recorded; the wrapper's Python runs under the sandbox ----

FOREIGN = {  # another application's files in the places a wrong prefix points at
    "opt/otherapp/data.bin": b"other application's data",
    "usr/local/bin/othertool": b"#!/bin/sh\necho other\n",
    "usr/local/lib/libother.so": b"\x7fELF other",
    "etc/other.conf": b"setting = 1\n",
    "var/lib/otherdb/db": b"rows",
}


def run_raw(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(INSTALL), *args],
        env={**os.environ, "DESTDIR": str(root), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for folders), shadow-utils' backups aside."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel.startswith("etc/") and (rel.endswith("-") or rel.endswith(".pwd.lock")):
            continue  # useradd/userdel --root write passwd- etc. backups and a lock file, as on any host
        out[rel] = None if path.is_dir() and not path.is_symlink() else path.read_bytes()
    return out


def with_foreign_files(tmp_path: Path) -> Path:
    root = staged_root(tmp_path)
    for rel, content in FOREIGN.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--uninstall", "--prefix", "/opt"], {}, "is not where this program was installed"),
        (["--uninstall", "--purge", "--prefix", "/opt"], {}, "is not where this program was installed"),
        (["--uninstall"], {"PREFIX": "/usr/local"}, "is not where this program was installed"),
        (["--uninstall", "--purge"], {"PREFIX": "/"}, "is not where this program was installed"),
        (["--uninstall", "--purge"], {"CONF_DIR": "/etc"}, "nothing was recorded as installed with CONF_DIR=/etc"),
    ],
    ids=["--prefix /opt", "--purge --prefix /opt", "PREFIX=/usr/local", "PREFIX=/ --purge", "CONF_DIR=/etc --purge"],
)
def test_uninstall_with_a_wrong_prefix_or_conf_dir_removes_nothing(tmp_path, args, env, says):
    # Issue 18: --uninstall --prefix /opt removed all of /opt; PREFIX=/usr/local removed /usr/local; --purge with
    # CONF_DIR=/etc would remove /etc.
    root = with_foreign_files(tmp_path)
    run_install(root)
    before = snapshot(root)
    proc = run_raw(root, *args, env=env)
    assert proc.returncode != 0 and says in proc.stderr and "nothing was removed" in proc.stderr, proc.stderr
    assert snapshot(root) == before
    # The right command still removes exactly the install, and every foreign file stays.
    run_install(root, "--uninstall", "--purge")
    for rel, content in FOREIGN.items():
        assert (root / rel).read_bytes() == content, rel
    assert not (root / f"opt/{NAME}").exists() and not (root / f"usr/local/bin/{NAME}").exists()


@pytest.mark.parametrize(
    ("option", "env"),
    [(["--prefix", "/opt"], {}), ([], {"PREFIX": "/usr/local"}), ([], {"PREFIX": "/"}), ([], {"CONF_DIR": "/etc"})],
    ids=["--prefix /opt", "PREFIX=/usr/local", "PREFIX=/", "CONF_DIR=/etc"],
)
def test_install_refuses_a_directory_that_holds_other_files(tmp_path, option, env):
    root = with_foreign_files(tmp_path)
    before = snapshot(root)
    proc = run_raw(root, *option, env=env)
    assert proc.returncode != 0 and "already holds files this program did not put there" in proc.stderr, proc.stderr
    assert "nothing was installed" in proc.stderr
    assert snapshot(root) == before


def test_a_prefix_that_existed_empty_is_kept_and_the_rest_removed(tmp_path):
    root = with_foreign_files(tmp_path)
    (root / "srv/agent").mkdir(parents=True)
    run_install(root, "--prefix", "/srv/agent")
    assert (root / f"srv/agent/{NAME}.py").exists()
    proc = run_install(root, "--uninstall", "--prefix", "/srv/agent", "--purge")
    assert "kept /srv/agent (existed before the install)" in proc.stdout
    assert (root / "srv/agent").is_dir() and list((root / "srv/agent").iterdir()) == []
    for rel, content in FOREIGN.items():
        assert (root / rel).read_bytes() == content, rel


@pytest.mark.parametrize("mode", [[], ["--no-systemd"]], ids=["systemd", "cron"])
def test_install_then_purge_leaves_nothing_behind(tmp_path, mode):
    root = staged_root(tmp_path)
    before = snapshot(root)
    run_install(root, *mode)
    (root / f"var/spool/{NAME}/alpha.2024-05-01.x.psv.gz").write_bytes(b"undelivered")
    (root / f"var/lib/{NAME}/state.json").write_text("{}")
    proc = run_install(root, "--uninstall")
    for kept in (
        f"/etc/{NAME}/config.json (config)",
        f"/var/spool/{NAME} (config, state or spool",
        "service user slurm-usage",
    ):
        assert f"kept {kept}" in proc.stdout, proc.stdout
    assert (root / f"var/spool/{NAME}/alpha.2024-05-01.x.psv.gz").exists()
    run_install(root, "--uninstall", "--purge")
    assert snapshot(root) == before


def test_user_install_then_purge_leaves_nothing_behind(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    stage = tmp_path / "stage"
    run_install(stage, "--user", env={"HOME": str(home)})
    assert (stage / str(home).lstrip("/") / f".config/{NAME}/install.manifest").exists()
    run_install(stage, "--user", "--uninstall", "--purge", env={"HOME": str(home)})
    assert [p for p in stage.rglob("*")] == []


def test_the_wrapper_pins_a_system_python_that_runs_under_protecthome(tmp_path):
    # Issue 18: the wrapper called the first python3 on root's PATH, a pyenv shim in /root, hidden from the
    # service by ProtectHome=yes.
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3 on this machine")
    if subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], check=False).returncode != 0:
        pytest.skip("unshare --mount not permitted here: cannot emulate ProtectHome")
    root = staged_root(tmp_path)
    shims = tmp_path / "root-home-shims"  # stands for /root/.pyenv/shims: a python3 first on PATH
    shims.mkdir()
    (shims / "python3").symlink_to(sys_python())
    proc = run_install(root, env={"PATH": f"{shims}:{os.environ['PATH']}"})
    exec_line = (root / f"usr/local/bin/{NAME}").read_text().splitlines()[-1]
    python = exec_line.split()[1]
    assert not python.startswith(("/home/", "/root/", "/run/user/", str(shims))), exec_line
    assert "runs under the unit's sandbox (ProtectHome=yes)" in proc.stdout + proc.stderr
    # What the service would see: /home, /root and /run/user hidden; the pinned interpreter runs the agent.
    agent = root / f"opt/{NAME}/{NAME}.py"
    hidden = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'for d in /home /root /run/user; do [ -d "$d" ] && mount -t tmpfs none "$d"; done; exec "$@"',
            "sh",
            python,
            str(agent),
            "--version",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert hidden.returncode == 0 and hidden.stdout.startswith(NAME), hidden.stderr


def sys_python() -> str:
    return os.path.realpath(shutil.which("python3") or "/usr/bin/python3")


def test_install_refuses_a_python_the_sandbox_hides(tmp_path):
    hidden = Path(os.path.realpath(sys.executable))
    if not str(hidden).startswith(("/root/", "/home/")):
        pytest.skip(f"the test interpreter {hidden} is not under /root or /home")
    root = staged_root(tmp_path)
    proc = run_raw(root, "--python", str(hidden))
    assert proc.returncode != 0 and "hidden from the service by ProtectHome=yes" in proc.stderr, proc.stderr
    assert not (root / f"usr/local/bin/{NAME}").exists()
