"""Builders for the sacct parser tests: sample captures and a line builder."""

from pathlib import Path

from slurm_assets.sacct.parse import parse_sacct_text

DATA = Path(__file__).parent / "data"
FIXTURES = Path(__file__).parent.parent / "fixtures"

# A compact 22.05-style header (the agent asks for more; unknown fields are ignored).
FIELDS = [
    "JobID",
    "JobIDRaw",
    "User",
    "Account",
    "Partition",
    "QOS",
    "State",
    "ExitCode",
    "Submit",
    "Eligible",
    "Start",
    "End",
    "Elapsed",
    "ElapsedRaw",
    "Timelimit",
    "NNodes",
    "NodeList",
    "AllocCPUS",
    "ReqMem",
    "AllocTRES",
    "TotalCPU",
    "MaxRSS",
    "TRESUsageInTot",
    "JobName",
]

JOB = {
    "JobID": "100",
    "JobIDRaw": "100",
    "User": "alice",
    "Account": "physics",
    "Partition": "cpu",
    "QOS": "normal",
    "State": "COMPLETED",
    "ExitCode": "0:0",
    "Submit": "2024-05-01T10:00:00",
    "Eligible": "2024-05-01T10:00:00",
    "Start": "2024-05-01T10:00:00",
    "End": "2024-05-01T11:00:00",
    "Elapsed": "01:00:00",
    "ElapsedRaw": "3600",
    "Timelimit": "02:00:00",
    "NNodes": "1",
    "NodeList": "vm",
    "AllocCPUS": "2",
    "ReqMem": "1G",
    "AllocTRES": "billing=2,cpu=2,mem=1G,node=1",
    "TotalCPU": "01:00:00",
    "MaxRSS": "",
    "TRESUsageInTot": "",
    "JobName": "job",
}


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def line(fields=FIELDS, **values) -> str:
    """One --parsable2 line: JOB's values overridden by ``values``."""
    row = dict(JOB, **values)
    return "|".join(str(row.get(f, "")) for f in fields)


def text(*lines: str, fields=FIELDS) -> bytes:
    return ("\n".join(["|".join(fields), *lines]) + "\n").encode()


def parse(data: bytes, day: str = "2024-05-01"):
    return parse_sacct_text(data, cluster="alpha", drop_id="d0", day=day)
