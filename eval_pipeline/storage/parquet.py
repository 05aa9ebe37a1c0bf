"""DataFrame <-> Parquet bytes for one table partition.

In (write): a table name, a DataFrame and its validated partition dict. Out: zstd Parquet bytes
with every partition column stored as a string (added, or replaced after checking that each value
equals the partition value), as DuckDB reads it from the path.

In (read): ``(uri, bytes)`` of partition files, optional pyarrow DNF row ``filters`` and
``columns``. Out: one DataFrame (columns unioned across files; empty if no file).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from eval_pipeline.storage.errors import WarehouseError

__all__ = ["PARQUET_CONTENT_TYPE", "decode_partitions", "encode_partition"]

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"


def _check_partition_columns(table: str, df: pd.DataFrame, part: Mapping[str, str]) -> None:
    for col, value in part.items():
        if col in df.columns:
            bad = df[col].isna() | (df[col].astype(str) != value)
            if bool(bad.any()):
                sample = df.loc[bad, col].iloc[0]
                raise WarehouseError(
                    f"write_table({table!r}, partition {part}): column {col!r} has value "
                    f"{sample!r} but the partition says {value!r}; fix the data or the partition"
                )


def encode_partition(table: str, df: pd.DataFrame, part: Mapping[str, str]) -> bytes:
    """Parquet bytes of ``df`` with the partition columns of ``part`` as strings."""
    if not isinstance(df, pd.DataFrame):
        raise WarehouseError(f"write_table({table!r}) needs a pandas DataFrame, got {type(df).__name__}")
    _check_partition_columns(table, df, part)
    try:
        arrow = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise WarehouseError(
            f"write_table({table!r}, partition {part}): cannot convert the DataFrame to "
            f"Parquet: {exc}; give each column a single type"
        ) from exc
    for col, value in part.items():
        column = pa.array([value] * arrow.num_rows, pa.string())
        if col in arrow.column_names:
            arrow = arrow.set_column(arrow.column_names.index(col), col, column)
        else:
            arrow = arrow.append_column(col, column)
    buf = io.BytesIO()
    pq.write_table(arrow, buf, compression="zstd")
    return buf.getvalue()


def decode_partitions(
    table: str,
    files: Iterable[tuple[str, bytes]],
    filters: Sequence[Any] | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Concatenate the Parquet ``files`` (``(uri, bytes)``), filter rows and select columns."""
    tables = []
    for uri, data in files:
        try:
            tables.append(pq.read_table(io.BytesIO(data)))
        except pa.ArrowException as exc:
            raise WarehouseError(f"corrupt Parquet file {uri}: {exc}; re-materialize that partition") from exc
    if not tables:
        return pd.DataFrame(columns=list(columns) if columns else None)
    arrow = pa.concat_tables(tables, promote_options="permissive")
    if filters:
        arrow = arrow.filter(pq.filters_to_expression(filters))
    if columns:
        missing = [c for c in columns if c not in arrow.column_names]
        if missing:
            raise WarehouseError(
                f"read_table({table!r}): unknown columns {missing}; available: {arrow.column_names}"
            )
        arrow = arrow.select(list(columns))
    frame: pd.DataFrame = arrow.to_pandas()
    return frame
