"""The dashboard's colours: job states by meaning, every other entity by a stable rule.

States are coloured by what they mean (a reader must never see COMPLETED in
red because it happened to come first): finished well = green, failed in any
way = shades of red, cancelled = grey, ran out of time = amber, preempted or
requeued = purple/blue, still queued or running = blue shades.

Clusters, accounts, users, partitions, QoS and GPU types get a colour from
their rank in the set of values the dashboard knows for that dimension (the
sidebar's options, so every chart of a page, and every page, agrees); a value
outside that set ranks among the values shown. "(other)" and "(none)" are
always grey, so a top-N remainder never looks like a real entity.
"""

STATE_COLORS = {
    "COMPLETED": "#2CA02C",  # green
    "FAILED": "#D62728",  # red
    "OUT_OF_MEMORY": "#8B0000",  # dark red
    "NODE_FAIL": "#E8636B",  # light red
    "BOOT_FAIL": "#B22222",  # firebrick
    "LAUNCH_FAILED": "#C0392B",
    "DEADLINE": "#FF7F0E",  # orange: a time limit of another kind
    "TIMEOUT": "#F2A900",  # amber
    "CANCELLED": "#8C8C8C",  # grey
    "REVOKED": "#B0B0B0",  # light grey
    "PREEMPTED": "#9467BD",  # purple
    "REQUEUED": "#B279A2",
    "RESIZING": "#C5B0D5",
    "PENDING": "#9ECAE1",  # light blue: waiting
    "RUNNING": "#1F77B4",  # blue: working
    "COMPLETING": "#6BAED6",
    "SUSPENDED": "#BCBD22",
}
GREY = "#7F7F7F"
SPECIAL = {"(other)": "#BDBDBD", "(none)": "#D9D9D9", "(untyped)": "#D9D9D9", "unknown": "#D9D9D9"}
# Entity colours: Plotly's D3 set without its green, red and grey (they carry state meanings), then Tableau's.
ENTITY_COLORS = (
    "#1F77B4",
    "#FF7F0E",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#BCBD22",
    "#17BECF",
    "#4C78A8",
    "#F58518",
    "#72B7B2",
    "#EECA3B",
    "#B279A2",
    "#FF9DA6",
    "#9D755D",
    "#54A24B",
    "#E45756",
)
# Dimensions whose values get entity colours from the dashboard-wide option list.
ENTITY_DIMS = ("cluster", "account", "user", "partition", "qos", "gpu_type")


def state_color(state: str) -> str:
    """A state's colour by meaning; an unknown state (a newer Slurm's) is grey, never a misleading hue."""
    word = str(state).split(" ")[0].upper()
    return STATE_COLORS.get(word, SPECIAL.get(str(state), GREY))


def entity_colors(keys, known=()) -> dict[str, str]:
    """Colour per key: its rank in ``known`` (sorted) when there, else its rank among the other keys shown.

    Deterministic from the names and the set: the same ``known`` list gives a cluster the same colour in
    every chart, whichever subset of clusters a chart happens to contain.
    """
    universe = sorted({str(k) for k in known})
    rank = {k: i for i, k in enumerate(universe)}
    extra = sorted({str(k) for k in keys} - set(rank) - set(SPECIAL))
    rank |= {k: len(universe) + i for i, k in enumerate(extra)}
    out = {}
    for key in keys:
        key = str(key)
        out[key] = SPECIAL[key] if key in SPECIAL else ENTITY_COLORS[rank[key] % len(ENTITY_COLORS)]
    return out


def color_map(dim: str, keys, known=()) -> dict[str, str]:
    """The colour of each value of ``dim`` shown in a chart (states by meaning, the rest by rank)."""
    keys = [str(k) for k in keys]
    if dim == "state":
        return {k: state_color(k) for k in keys}
    return entity_colors(keys, known)
