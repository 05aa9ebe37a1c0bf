"""Formatting of asset and check metadata: the one place tables and numbers become markdown.

In: DataFrames and figures an asset or check reports. Out: markdown text for
``dg.MetadataValue.md`` (:func:`md_table`: first rows, floats rounded, a note when rows are cut),
and the metadata dict of plain figures with their JSON, markdown and path values wrapped
(:func:`as_metadata`; :func:`in_order` where the order of the fields is the stage's), so a stage's plain
module can return the figures and the asset only wraps them.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd


def md_table(df: pd.DataFrame | None, max_rows: int = 20, digits: int = 4, empty: str = "none") -> str:
    """A DataFrame as a markdown table (first ``max_rows`` rows, floats rounded)."""
    if df is None or df.empty:
        return empty
    d = df.head(max_rows).copy()
    for c in d.columns:
        if pd.api.types.is_float_dtype(d[c]):
            d[c] = d[c].round(digits)
    out = d.to_markdown(index=False)
    if len(df) > max_rows:
        out += f"\n\n(first {max_rows} of {len(df)} rows)"
    return out


def md_sections(sections: list[tuple[str, pd.DataFrame]], max_rows: int, empty: str) -> str:
    """Markdown tables under their headings (``empty`` when there is none)."""
    return "\n\n".join(f"{heading}\n\n{md_table(df, max_rows)}" for heading, df in sections) or empty


def as_metadata(
    values: Mapping[str, Any],
    *,
    json: Mapping[str, Any] | None = None,
    md: Mapping[str, str] | None = None,
    paths: Mapping[str, str] | None = None,
    tables: Mapping[str, tuple[pd.DataFrame | None, int, int, str]] | None = None,
) -> dict[str, Any]:
    """Asset metadata: ``values`` as they are (numbers, short text), ``json`` as JSON, ``md`` as
    markdown, ``paths`` as paths, ``tables`` = ``{name: (frame, max rows, digits, text when empty)}``
    as markdown tables."""
    out = dict(values)
    out.update({k: dg.MetadataValue.md(md_table(*t)) for k, t in (tables or {}).items()})
    out.update({k: dg.MetadataValue.json(v) for k, v in (json or {}).items()})
    out.update({k: dg.MetadataValue.md(v) for k, v in (md or {}).items()})
    out.update({k: dg.MetadataValue.path(v) for k, v in (paths or {}).items()})
    return out


def in_order(
    fields: Mapping[str, Any],
    *,
    json: tuple[str, ...] = (),
    md: tuple[str, ...] = (),
    paths: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Asset or check metadata in the order of ``fields`` (the UI lists it so), the fields named in ``json``,
    ``md`` and ``paths`` wrapped as JSON, markdown and paths, the others as they are."""
    wrap = {
        **dict.fromkeys(json, dg.MetadataValue.json),
        **dict.fromkeys(md, dg.MetadataValue.md),
        **dict.fromkeys(paths, dg.MetadataValue.path),
    }
    return {k: wrap[k](v) if k in wrap else v for k, v in fields.items()}
