"""The whole drop manifest, inventory included: types, physical ranges, sizes and UTC timestamps.

``landing.validate_manifest`` checks the keys every reader needs; this module checks the rest of
docs/DROP_FORMAT.md so that nothing a cluster's key holder sends can overflow a sum or break a
parse later (issue 18: ``cpus: 2**53`` on 1,100 nodes, ``"cpus": "many"``, a non-ISO
``collected_at`` were stored with 200 and stopped every later ``process``). Each refusal names
the field's path (``inventory.nodes[3].cpus``) and what would be right. The ranges are
``slurm_assets/sacct/limits.py``.
"""

import datetime as dt
import re

from slurm_assets.sacct import limits

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_NODE_KEYS = ("node", "partitions", "cpus", "mem_bytes", "gpus", "state")
_WHERE = "slurm_assets/sacct/limits.py"


class ManifestFieldError(ValueError):
    """One manifest field is wrong; ``path`` names it (``inventory.nodes[3].cpus``)."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def check_time(value, path: str) -> dt.datetime:
    """A UTC time ``YYYY-MM-DDTHH:MM:SSZ`` (the agent's format) in the years 1970-2999."""
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value):
        shown = repr(value[:40]) if isinstance(value, str) else _kind(value)
        raise ManifestFieldError(path, f"{shown} is not a UTC time YYYY-MM-DDTHH:MM:SSZ")
    try:
        moment = dt.datetime.strptime(value, TIME_FORMAT)
    except ValueError as err:
        raise ManifestFieldError(path, f"{value!r} is not a real date and time ({err})") from err
    if not 1970 <= moment.year <= 2999:
        raise ManifestFieldError(path, f"{value!r} is outside the years 1970-2999")
    return moment


def check_int(value, path: str, high: int, what: str) -> int:
    """An integer from 0 to ``high`` (a physical maximum; ``what`` says of what)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ManifestFieldError(path, f"{_kind(value)} {str(value)[:40]!r} is not an integer")
    if value < 0:
        raise ManifestFieldError(path, f"{value} is negative")
    if value > high:
        raise ManifestFieldError(path, f"{value} is over {high} ({what}; {_WHERE})")
    return value


def check_text(value, path: str, empty_ok: bool = True) -> str:
    """A string of at most NAME_CHARS_MAX characters without line breaks."""
    if not isinstance(value, str):
        raise ManifestFieldError(path, f"{_kind(value)} is not a string")
    if len(value) > limits.NAME_CHARS_MAX:
        raise ManifestFieldError(path, f"{len(value)} characters, over {limits.NAME_CHARS_MAX}")
    if not value and not empty_ok:
        raise ManifestFieldError(path, "is empty")
    if "\n" in value or "\r" in value or "\0" in value:
        raise ManifestFieldError(path, "holds a line break or NUL")
    return value


def _check_list(value, path: str, most: int) -> list:
    if not isinstance(value, list):
        raise ManifestFieldError(path, f"{_kind(value)} is not a list")
    if len(value) > most:
        raise ManifestFieldError(path, f"{len(value)} entries, over {most} ({_WHERE})")
    return value


def check_manifest_details(manifest: dict) -> None:
    """Everything ``landing.validate_manifest`` leaves out; raise ManifestFieldError for the first bad field."""
    start = check_time(manifest["window_start"], "window_start")
    end = check_time(manifest["window_end"], "window_end")
    if end < start:
        raise ManifestFieldError("window_end", f"{manifest['window_end']} is before window_start")
    check_time(manifest["collected_at"], "collected_at")
    check_int(manifest["rows"], "rows", limits.COUNT_MAX, "rows of one drop")
    check_int(manifest["gzip_size"], "gzip_size", limits.COUNT_MAX, "bytes of one drop")
    check_text(manifest["sacct_version"], "sacct_version")
    check_text(manifest["agent_version"], "agent_version")
    for i, name in enumerate(_check_list(manifest["fields"], "fields", limits.FIELDS_MAX)):
        check_text(name, f"fields[{i}]", empty_ok=False)
        if "|" in name:  # the seed JSON's fields are its keys: any text sacct -P could carry
            raise ManifestFieldError(f"fields[{i}]", f"{name[:40]!r} holds '|'")
    inventory = manifest.get("inventory")
    if inventory is not None:
        check_inventory(inventory)
    associations = manifest.get("associations")
    if associations is not None:
        check_associations(associations)
    capacity = manifest.get("capacity")
    if capacity is not None:
        check_capacity(capacity)


_TRES_KEYS = ("allocated", "down", "planned_down", "idle", "planned", "reported")
_EVENT_KEYS = ("nodename", "timestart", "timeend", "state", "reason", "event")


def check_capacity(section, path: str = "capacity") -> None:
    """``{"window_start", "window_end", "utilization": {tres: {key: seconds}}, "events": [...]}`` (slurmdbd)."""
    if not isinstance(section, dict):
        raise ManifestFieldError(path, f"{_kind(section)} is not an object (or null)")
    check_time(section.get("window_start"), f"{path}.window_start")
    check_time(section.get("window_end"), f"{path}.window_end")
    utilization = section.get("utilization")
    if not isinstance(utilization, dict) or len(utilization) > limits.GPU_TYPES_PER_NODE_MAX:
        raise ManifestFieldError(f"{path}.utilization", f"{_kind(utilization)} is not an object of TRES: seconds")
    for tres, values in utilization.items():
        check_text(tres, f"{path}.utilization key {tres[:40]!r}", empty_ok=False)
        if not isinstance(values, dict):
            raise ManifestFieldError(f"{path}.utilization.{tres}", f"{_kind(values)} is not an object")
        for key, seconds in values.items():
            if key not in _TRES_KEYS:
                raise ManifestFieldError(f"{path}.utilization.{tres}.{key[:40]}", f"is not one of {_TRES_KEYS}")
            check_int(seconds, f"{path}.utilization.{tres}.{key}", limits.TRES_SECONDS_MAX, "TRES-seconds")
    for i, event in enumerate(_check_list(section.get("events", []), f"{path}.events", limits.EVENTS_MAX)):
        if not isinstance(event, dict):
            raise ManifestFieldError(f"{path}.events[{i}]", f"{_kind(event)} is not an object")
        for key in _EVENT_KEYS:
            check_text(event.get(key, ""), f"{path}.events[{i}].{key}")
        tres = event.get("tres", "")
        if not isinstance(tres, str) or len(tres) > limits.TRES_CHARS_MAX or "\n" in tres:
            raise ManifestFieldError(f"{path}.events[{i}].tres", f"not a TRES text of at most {limits.TRES_CHARS_MAX}")


def check_associations(section, path: str = "associations") -> None:
    """``{"collected_at": time, "associations": [...], "coordinators": [...]}``: objects of short strings."""
    if not isinstance(section, dict):
        raise ManifestFieldError(path, f"{_kind(section)} is not an object (or null)")
    check_time(section.get("collected_at"), f"{path}.collected_at")
    for key, names in (("associations", ("account", "parent", "user")), ("coordinators", ("account", "user"))):
        for i, entry in enumerate(_check_list(section.get(key, []), f"{path}.{key}", limits.ASSOCIATIONS_MAX)):
            if not isinstance(entry, dict):
                raise ManifestFieldError(f"{path}.{key}[{i}]", f"{_kind(entry)} is not an object")
            for name in names:
                check_text(entry.get(name, ""), f"{path}.{key}[{i}].{name}")


def check_inventory(inventory, path: str = "inventory") -> None:
    """``{"collected_at": time, "nodes": [node, ...]}`` (docs/DROP_FORMAT.md), every node in range."""
    if not isinstance(inventory, dict):
        raise ManifestFieldError(path, f"{_kind(inventory)} is not an object (or null)")
    for key in ("collected_at", "nodes"):
        if key not in inventory:
            raise ManifestFieldError(f"{path}.{key}", "is missing")
    check_time(inventory["collected_at"], f"{path}.collected_at")
    for i, node in enumerate(_check_list(inventory["nodes"], f"{path}.nodes", limits.NODES_MAX)):
        check_node(node, f"{path}.nodes[{i}]")


def check_node(node, path: str) -> None:
    """One inventory node: name, partitions, CPUs, memory and GPUs by type within a node's physical range."""
    if not isinstance(node, dict):
        raise ManifestFieldError(path, f"{_kind(node)} is not an object")
    for key in _NODE_KEYS:
        if key not in node:
            raise ManifestFieldError(f"{path}.{key}", "is missing")
    check_text(node["node"], f"{path}.node", empty_ok=False)
    check_text(node["state"], f"{path}.state")
    partitions = _check_list(node["partitions"], f"{path}.partitions", limits.PARTITIONS_PER_NODE_MAX)
    for j, name in enumerate(partitions):
        check_text(name, f"{path}.partitions[{j}]", empty_ok=False)
    check_int(node["cpus"], f"{path}.cpus", limits.CPUS_PER_NODE_MAX, "CPUs per node")
    check_int(node["mem_bytes"], f"{path}.mem_bytes", limits.MEM_BYTES_PER_NODE_MAX, "memory bytes per node")
    gpus = node["gpus"]
    if not isinstance(gpus, dict):
        raise ManifestFieldError(f"{path}.gpus", f"{_kind(gpus)} is not an object of GPU type: count")
    if len(gpus) > limits.GPU_TYPES_PER_NODE_MAX:
        raise ManifestFieldError(f"{path}.gpus", f"{len(gpus)} GPU types, over {limits.GPU_TYPES_PER_NODE_MAX}")
    total = 0
    for gpu_type, count in gpus.items():
        check_text(gpu_type, f"{path}.gpus key {gpu_type[:40]!r}")
        label = gpu_type or '""'  # untyped GPUs
        total += check_int(count, f"{path}.gpus.{label}", limits.GPUS_PER_NODE_MAX, "GPUs per node")
    if total > limits.GPUS_PER_NODE_MAX:
        raise ManifestFieldError(f"{path}.gpus", f"{total} GPUs in all, over {limits.GPUS_PER_NODE_MAX} ({_WHERE})")
