"""The agent against real SLURM (the testbed cluster `alpha`): dry-run totals equal an independent
DuckDB computation over the very sacct output the agent read; --output-dir drops round-trip
(gzip, header, manifest sha256 and rows) and carry the real node inventory; a real extraction
pushed to the real receiver over HTTPS lands intact.
"""

import datetime as dt
import gzip
import io
import json

import pytest

from slurm_assets.storage import landing
from slurm_assets_tests.agent.test_exporter import independent_totals

pytestmark = pytest.mark.slurm_live


def teeing_runner(agent, seen: list):
    """The real sacct runner, keeping a copy of every data extraction's stdout."""

    def run(argv, timeout):
        chunks = []
        for chunk in agent.run_command(argv, timeout):
            chunks.append(chunk)
            yield chunk
        if "-S" in argv:
            seen.append((list(argv), b"".join(chunks)))

    return run


def test_dry_run_totals_equal_an_independent_computation(agent, slurm_testbed):
    seen = []
    out = io.BytesIO()
    start = slurm_testbed.start.date().isoformat()
    code = agent.main(
        ["--no-config", "--dry-run", "--json", "--cluster", slurm_testbed.cluster, "--start-date", start],
        runner=teeing_runner(agent, seen),
        stdout=out,
    )
    assert code == 0
    summary = json.loads(out.getvalue())
    [(argv, text)] = seen  # one sacct call over the whole period
    assert argv[argv.index("-S") + 1] == f"{start}T00:00:00"
    expected = independent_totals(text.decode())
    assert summary["jobs"] == expected["jobs"] > 10
    assert summary["states"] == expected["states"]
    assert summary["cpu_hours"] == pytest.approx(expected["cpu_hours"], rel=1e-12)
    assert summary["gpu_hours"] == pytest.approx(expected["gpu_hours"], rel=1e-12)
    assert summary["gpu_hours"] > 0  # the mix has typed and untyped GPU jobs
    # Every finished job of the mix that -S/-E can see is counted, under its normalized state.
    for name, state in slurm_testbed.expected_final_states.items():
        if state and state in summary["states"]:
            assert summary["states"][state] >= 1, name


def test_output_dir_drops_round_trip(agent, slurm_testbed, tmp_path):
    out_dir = tmp_path / "drops"
    start = (slurm_testbed.start.date() - dt.timedelta(days=1)).isoformat()
    seen = []
    code = agent.main(
        [
            "--no-config",
            "--output-dir",
            str(out_dir),
            "--cluster",
            slurm_testbed.cluster,
            "--start-date",
            start,
        ],
        runner=teeing_runner(agent, seen),
    )
    assert code == 0
    manifests = sorted(out_dir.glob(f"{slurm_testbed.cluster}/*/*.manifest.json"))
    assert len(manifests) == len(seen) >= 2  # the day before (empty) and the testbed's day(s)
    for path, (argv, text) in zip(manifests, seen):
        manifest = landing.validate_manifest(json.loads(path.read_text()))
        gz = path.with_name(path.name.replace(".manifest.json", ".psv.gz")).read_bytes()
        assert gzip.decompress(gz) == text  # exactly what sacct printed
        assert manifest["gzip_size"] == len(gz)
        digest = landing.digest_gzip_text(io.BytesIO(gz), 1 << 30)
        assert (digest.sha256, digest.rows) == (manifest["sha256"], manifest["rows"])
        assert digest.header == "|".join(manifest["fields"]) == argv[4][len("--format=") :].replace(",", "|")
        assert manifest["window_start"] == argv[argv.index("-S") + 1] + "Z"
        assert manifest["sacct_version"].endswith("22.05.8")
        assert "ReqGRES" not in manifest["fields"] and "AllocTRES" in manifest["fields"]
    last = json.loads(manifests[-1].read_text())
    assert last["rows"] > 0
    node = last["inventory"]["nodes"][0]
    assert (node["node"], node["cpus"], node["gpus"]) == ("vm", 16, {"a100": 2, "v100": 2})
    assert set(node["partitions"]) >= set(slurm_testbed.partitions)


def test_real_extraction_pushed_over_https_lands_intact(agent, slurm_testbed, receiver_factory, self_signed, tmp_path):
    cert, key = self_signed
    rec = receiver_factory("https", ("--ssl-certfile", str(cert), "--ssl-keyfile", str(key))).start()
    from slurm_assets_tests.agent.conftest import KEY

    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_url": rec.url,
                "api_key": KEY,
                "ca_bundle": str(cert),
                "cluster_name": slurm_testbed.cluster,
                "spool_dir": str(tmp_path / "spool"),
                "state_file": str(tmp_path / "state.json"),
            }
        )
    )
    config.chmod(0o600)
    seen = []
    start = slurm_testbed.start.date().isoformat()
    code = agent.main(["--config", str(config), "--start-date", start], runner=teeing_runner(agent, seen))
    assert code == 0
    refs = landing.list_drops(rec.data_dir)
    assert len(refs) == len(seen)
    for ref, (_argv, text) in zip(refs, seen):
        assert landing.read_drop_text(ref) == text
        assert ref.manifest()["source"] == "push"
