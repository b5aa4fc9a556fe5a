"""A stand-in ``sacctmgr`` for the demo: Slurm's associations and coordinators, generated from ``catalog``.

    sacctmgr -P show associations cluster=alpha format=Cluster,Account,ParentName,User
    sacctmgr -P show account withcoord

Answers the two queries the agent makes once per run (agent ``collect_associations``), in the
``--parsable2`` shape of Slurm 23.02 (header ``Par Name`` for ParentName, ``Coordinators`` a comma
list), so the demo's drops carry associations through the same drop format as a real cluster's and
the dashboard shows coordinators and users. The users and accounts are the ones the generated jobs
use (``catalog.user_accounts``). Every other command refuses (exit 1): the demo has no slurmdbd, and
the agent must never ask the machine's real one (capacity history: ``show event``).
"""

import sys
from collections.abc import Mapping, Sequence

from slurm_assets import settings
from slurm_assets.demo import catalog
from slurm_assets.demo.fake_sacct import DEFAULT_CLUSTER

_HEADER = {"cluster": "Cluster", "account": "Account", "parentname": "Par Name", "user": "User"}


def association_rows(cluster: str) -> list[dict[str, str]]:
    """The root account, every account under its parent, and one row per (user, account) they may charge."""
    rows = [
        {"cluster": cluster, "account": "root", "parentname": "", "user": ""},
        {"cluster": cluster, "account": "root", "parentname": "", "user": "root"},
    ]
    rows += [
        {"cluster": cluster, "account": a, "parentname": p, "user": ""} for a, p in catalog.ACCOUNT_PARENTS.items()
    ]
    rows += [
        {"cluster": cluster, "account": a, "parentname": "", "user": u}
        for u in catalog.USERS
        for a in catalog.user_accounts(u)
    ]
    return rows


def associations_text(cluster: str, fields: Sequence[str]) -> str:
    cols = [f.lower() for f in fields] or list(_HEADER)
    unknown = [c for c in cols if c not in _HEADER]
    if unknown:
        raise ValueError(f"unsupported format field(s) {unknown}: supported {list(_HEADER.values())}")
    lines = ["|".join(_HEADER[c] for c in cols)]
    lines += ["|".join(row[c] for c in cols) for row in association_rows(cluster)]
    return "\n".join(lines) + "\n"


def coordinators_text() -> str:
    lines = ["Account|Descr|Org|Coordinators", "root|default root account|root|"]
    lines += [f"{a}|{a} group|{a}|{catalog.COORDINATORS.get(a, '')}" for a in catalog.ACCOUNTS]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a not in ("-P", "--parsable2", "-n", "-i")]
    env = settings.demo_slurm_env() if env is None else env
    words = [a.lower() for a in args if "=" not in a]
    options = {k.lower(): v for k, _, v in (a.partition("=") for a in args if "=" in a)}
    cluster = options.get("cluster") or options.get("clusters") or env.get("SLURM_DEMO_CLUSTER") or DEFAULT_CLUSTER
    try:
        if words[:2] == ["show", "associations"]:
            fields = [f for f in options.get("format", "").split(",") if f]
            sys.stdout.write(associations_text(cluster, fields))
        elif words[:2] == ["show", "account"] and "withcoord" in words:
            sys.stdout.write(coordinators_text())
        else:
            raise ValueError(f"unsupported command {' '.join(args)!r}: the demo has no slurmdbd")
    except ValueError as err:
        sys.stderr.write(
            f"sacctmgr (demo stand-in): {err}; supported: -P show associations [cluster=C] "
            "[format=Cluster,Account,ParentName,User], -P show account withcoord\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(0)
