"""Golden-set ingestion: the first asset of every evaluation run.

Validates every golden set the partition's model version is evaluated on. Any problem
fails the run with file, line and field *before* a single model call is made.
"""

import dagster as dg
import pandas as pd

from eval_pipeline.defs.eval_partition import partition, partitioned_asset
from eval_pipeline.defs.resources import EvalConfigResource, WarehouseResource
from eval_pipeline.ingestion.golden import (
    GoldenSetError,
    file_fingerprint,
    golden_frame,
    read_golden_set,
    sample_in_file_order,
)
from eval_pipeline.project.schemas import GOLDEN_COLUMNS
from eval_pipeline.storage import model_versions as versions


def _preview(df: pd.DataFrame, n: int = 5) -> str:
    cols = ["eval_set", "sample_id", "input_json", "expected_json", "category"]
    short = df[cols].head(n).copy()
    for c in ("input_json", "expected_json"):
        short[c] = (
            short[c].str.slice(0, 80).str.replace("|", "\\|", regex=False).str.replace("\n", " ", regex=False)
        )
    return short.to_markdown(index=False)


@partitioned_asset(
    group="ingestion",
    kinds=("python", "parquet"),
    description="The partition's golden samples: each eval set's golden file, validated and sampled deterministically.",
)
def golden_samples(
    context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    p = partition(context, eval_config, warehouse)
    date, mv_key, project, wh, mv = p.date, p.mv_key, p.project, p.wh, p.mv
    if mv in project.registry.models:
        versions.save_snapshot(wh, mv)
    frames, summary, problems = [], [], []
    for suite, es in p.eval_sets():
        try:
            records = read_golden_set(
                es.source_path, es.file_format, es.fields, es.needs_expected, es.max_record_bytes
            )
        except GoldenSetError as e:
            problems.append(str(e))
            continue
        picked = sample_in_file_order(
            records, es.sample.n if es.sample else None, es.sample.seed if es.sample else 0
        )
        rel = str(es.source_path.relative_to(project.base))
        frames.append(golden_frame(suite.name, es.name, picked, rel))
        summary.append(
            {
                "suite": suite.name,
                "eval_set": es.name,
                "family": es.family,
                "source": rel,
                "records": len(records),
                "sampled": len(picked),
                "sha256": file_fingerprint(es.source_path),
            }
        )
    if problems:
        raise dg.Failure(
            description="Golden-set validation failed; no model was called.\n" + "\n".join(problems),
            metadata={"problems": dg.MetadataValue.md("```\n" + "\n".join(problems) + "\n```")},
        )
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=GOLDEN_COLUMNS)
    uri = p.write("golden", df)
    table = pd.DataFrame(summary)
    context.log.info(f"golden samples for {mv_key} on {date}: {len(df)} rows from {len(summary)} eval sets")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(df),
            # Plain text first (the UI shows it without a click), the full table beside it.
            "eval_sets": ", ".join(f"{r['eval_set']} ({r['sampled']} of {r['records']})" for r in summary),
            "eval_sets_table": dg.MetadataValue.md(table.to_markdown(index=False)),
            "content_hash": "-".join(s["sha256"][:8] for s in summary),
            "path": dg.MetadataValue.path(uri),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(c, "string") for c in GOLDEN_COLUMNS]
            ),
            "preview": dg.MetadataValue.md(_preview(df)) if len(df) else "empty",
        }
    )
