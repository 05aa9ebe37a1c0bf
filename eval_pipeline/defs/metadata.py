"""Formatting of asset and check metadata: the one place tables and numbers become markdown.

In: DataFrames and figures an asset or check reports. Out: markdown text for
``dg.MetadataValue.md`` (:func:`md_table`: first rows, floats rounded, a note when rows are cut).
"""

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
