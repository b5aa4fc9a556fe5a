"""Protects the sacct value formats: durations, memory sizes, integers and UTC times (sentinels -> NULL)."""

import datetime as dt

import pytest

from slurm_assets.sacct import units

UTC = dt.UTC


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("1-02:03:04", 93784.0),  # D-HH:MM:SS: jobs running for days
        ("365-00:00:00", 365 * 86400.0),  # the longest Timelimit seen on real clusters
        ("12:34:56", 45296.0),  # HH:MM:SS
        ("05:06.789", 306.789),  # TotalCPU under an hour: MM:SS.mmm
        ("00:00:00", 0.0),  # pending jobs
        ("  00:01:00 ", 60.0),  # surrounding blanks are trimmed
        ("UNLIMITED", None),  # Timelimit without limit
        ("Partition_Limit", None),  # Timelimit from the partition
        ("Unknown", None),  # sentinel
        ("INVALID", None),  # sentinel
        ("", None),  # empty (step rows)
        (None, None),  # missing field
        ("1:2:3:4", None),  # garbage
        ("9" * 60 + ":00", None),  # absurdly long digit run: NULL, never infinity
        ("-1:00", None),  # negative durations do not exist in sacct output
    ],
)
def test_duration_seconds(value, seconds):
    assert units.duration_seconds([value]).to_pylist() == [seconds]


@pytest.mark.parametrize(
    "value, size, scope",
    [
        ("12376K", 12376 * 1024, ""),  # MaxRSS as printed by default
        ("256M", 256 * 1024**2, ""),  # ReqMem of Slurm >= 21.08 (whole job)
        ("1G", 1024**3, ""),
        ("1.50G", int(1.5 * 1024**3), ""),  # decimals in MaxRSS
        ("2T", 2 * 1024**4, ""),
        ("1P", 1024**5, ""),
        ("4000Mn", 4000 * 1024**2, "n"),  # Slurm <= 20.11: per node
        ("1000Mc", 1000 * 1024**2, "c"),  # Slurm <= 20.11: per CPU
        ("0n", 0, "n"),  # no memory request recorded
        ("1073741824", 1073741824, ""),  # --noconvert: bytes
        ("0", 0, ""),  # extern steps
        ("", None, None),  # empty
        ("Unknown", None, None),  # sentinel
        ("12X", None, None),  # unknown unit
        ("999999999999999E", None, ""),  # beyond int64: NULL, not an overflow
        ("9" * 60 + "K", None, None),  # absurdly long: not read at all
    ],
)
def test_memory(value, size, scope):
    assert units.memory_bytes([value]).to_pylist() == [size]
    assert units.memory_scope([value]).to_pylist() == [scope]


@pytest.mark.parametrize(
    "value, number",
    [
        ("42", 42),  # AllocCPUS
        ("-3", -3),  # only validation decides whether negative is wrong
        ("007", 7),  # leading zeros
        ("", None),  # empty
        ("4.5", None),  # not an integer
        ("99999999999999999999", None),  # beyond int64
    ],
)
def test_integers(value, number):
    assert units.integers([value]).to_pylist() == [number]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-05-01T12:34:56", dt.datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)),  # sacct under TZ=UTC
        ("2024-02-29T00:00:00", dt.datetime(2024, 2, 29, tzinfo=UTC)),  # leap day
        ("Unknown", None),  # pending Start/End, never-eligible Eligible
        ("None", None),  # Start of a job cancelled before it started
        ("INVALID", None),  # Reserved of old records
        ("2024-13-01T00:00:00", None),  # impossible month
        ("2024-05-01 12:00:00x", None),  # trailing garbage
    ],
)
def test_utc_timestamps(value, expected):
    assert units.utc_timestamps([value]).to_pylist() == [expected]
