"""Protects API key handling: every API_KEYS form, cluster bindings, and that keys never leak into errors."""

import hashlib

import pytest

from slurm_assets.receiver import auth

SHA = hashlib.sha256(b"k3").hexdigest()


@pytest.mark.parametrize(
    "spec, presented, expected",
    [
        ("k1", "k1", None),  # the seed's form: one key for every cluster
        ("k1,k2", "k2", None),  # comma list
        (" k1 , k2 ", "k2", None),  # whitespace around entries is ignored
        ("k1:alpha", "k1", frozenset({"alpha"})),  # bound to one cluster
        ("k1:alpha+beta", "k1", frozenset({"alpha", "beta"})),  # bound to several
        (f"sha256:{SHA}", "k3", None),  # hash only: the server never holds the key
        (
            f"sha256:{SHA.upper()}:gamma",
            "k3",
            frozenset({"gamma"}),
        ),  # hex case does not matter
        (auth.hash_key_entry("k4", salt="s4"), "k4", None),  # salted hash
        (auth.hash_key_entry("k4", salt="s4") + ":alpha", "k4", frozenset({"alpha"})),
        (
            "k1:alpha,k1:beta",
            "k1",
            frozenset({"alpha", "beta"}),
        ),  # listed twice: union of bindings
        ("k1:alpha,k1", "k1", None),  # an unbound listing allows all
    ],
)
def test_configured_key_matches_with_its_clusters(spec, presented, expected):
    match = auth.check_key(auth.parse_api_keys(spec), presented)
    assert match is not None and match.clusters == expected
    assert match.key_id == hashlib.sha256(presented.encode()).hexdigest()[:8]


@pytest.mark.parametrize(
    "spec, presented",
    [
        ("k1", None),  # no header
        ("k1", ""),  # empty header
        ("k1", "k2"),  # unknown
        ("k1", "k1 "),  # no trimming of what the client sent
        (f"sha256:{SHA}", SHA),  # presenting the stored hash is not presenting the key
        (auth.hash_key_entry("k4", salt="s4"), "s4k4"),  # salt + key is not the key
        ("", "k1"),  # no keys configured
    ],
)
def test_other_keys_do_not_match(spec, presented):
    assert auth.check_key(auth.parse_api_keys(spec), presented) is None


def test_binding_allows_only_its_clusters():
    match = auth.check_key(auth.parse_api_keys("k1:alpha"), "k1")
    assert match.allows("alpha") and not match.allows("beta")


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            "secret-one:../x",
            "entry #1: invalid cluster name '../x'",
        ),  # binding names are checked too
        ("ok,secret-two:a:b", "entry #2: expected key or key:clusterA+clusterB"),
        ("sha256:abc", "entry #1: expected 64 hex digits"),
        (f"sha256:{SHA}:a:b", "entry #1: expected sha256:<64 hex>[:clusters]"),
        (
            "salted-sha256:sa|lt:" + SHA,
            "entry #1: expected salted-sha256:<salt>:<64 hex>[:clusters]",
        ),
        ("secret-three:", "entry #1: invalid cluster name ''"),
    ],
)
def test_bad_entries_are_named_by_position_never_by_key(spec, message):
    with pytest.raises(auth.KeyConfigError) as err:
        auth.parse_api_keys(spec)
    assert message in str(err.value)
    assert "secret" not in str(err.value)


def test_hash_key_entry_uses_a_fresh_salt():
    first, second = auth.hash_key_entry("k"), auth.hash_key_entry("k")
    assert first != second
    assert all(auth.check_key(auth.parse_api_keys(e), "k") for e in (first, second))
