"""What a valid storage name, key and partition value is (the rules, not the layout).

In: a table or partition-key name, a partition dict, an object key. Out: the value when valid,
else a WarehouseError naming the table, key and value and saying what is allowed. The layout of
the keys is :mod:`.keys`; the warehouse applies these checks to every read and write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from eval_pipeline.storage.errors import WarehouseError

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_VALUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@:-]*$")
_VALUE_RULE = (
    "partition values must be non-empty and use only letters, digits and . _ + @ : - "
    "(first character a letter or digit; no '/', '=' or spaces)"
)


def is_name(name: Any) -> bool:
    """Whether ``name`` is a valid table or partition-key name."""
    return isinstance(name, str) and bool(_NAME_RE.match(name))


def check_name(kind: str, name: Any) -> str:
    """``name`` if it is a valid table/partition-key name, else WarehouseError."""
    if not is_name(name):
        raise WarehouseError(
            f"invalid {kind} name {name!r}: use lowercase letters, digits and '_' (starting with a letter)"
        )
    return cast(str, name)


def _value_problem(value: str) -> str:
    if value == "":
        return "is empty"
    for bad in ("/", "="):
        if bad in value:
            return f"contains {bad!r}"
    return "is not allowed"


def check_partition_values(table: str, partition: Mapping[str, Any]) -> None:
    """Raise WarehouseError naming the table, key and value when ``partition`` is not a non-empty
    dict of valid key names to valid string values."""
    check_name("table", table)
    if not isinstance(partition, Mapping) or not partition:
        raise WarehouseError(
            f"table {table!r}: partition must be a non-empty dict of key -> value, got {partition!r}"
        )
    for key, value in partition.items():
        check_name(f"partition key (table {table!r})", key)
        if not isinstance(value, str):
            raise WarehouseError(
                f"table {table!r}, partition key {key!r}: value {value!r} is a "
                f"{type(value).__name__}; pass it as a string (e.g. {str(value)!r})"
            )
        if not _VALUE_RE.match(value):
            raise WarehouseError(
                f"table {table!r}, partition key {key!r}: value {value!r} "
                f"{_value_problem(value)}; {_VALUE_RULE}"
            )


def check_key(key: str) -> str:
    """``key`` if it is a relative object key without empty, '.' or '..' segments."""
    if (
        not isinstance(key, str)
        or not key
        or key.startswith("/")
        or any(seg in ("", ".", "..") for seg in key.split("/"))
    ):
        raise WarehouseError(
            f"invalid warehouse key {key!r}: use a relative path like 'reports/2025-01-01/x.html' "
            "without empty, '.' or '..' segments"
        )
    return key
