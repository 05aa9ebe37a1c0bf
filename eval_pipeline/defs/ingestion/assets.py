"""Golden-set ingestion: the first asset of every evaluation run.

Validates every golden set the partition's model version is evaluated on. Any problem
fails the run with file, line and field *before* a single model call is made.
"""

import dagster as dg
import pandas as pd

from eval_pipeline.defs.eval_partition import ProjectParam, partitioned_asset
from eval_pipeline.ingestion.partition_golden import golden_preview, read_partition_golden
from eval_pipeline.ingestion.units import keep_units
from eval_pipeline.project.schemas import GOLDEN_COLUMNS
from eval_pipeline.storage import model_versions as versions


class GoldenConfig(dg.Config):
    """Run config of ``golden_samples``: ``only`` keeps just these units (``eval_set/sample_id``) - what
    ``eval-pipeline run --sequential`` sends one look at a time; empty = every sampled record."""

    only: list[str] = []


@partitioned_asset(group="ingestion", kinds=("python", "parquet"))
def golden_samples(
    context: dg.AssetExecutionContext, config: GoldenConfig, project: ProjectParam
) -> dg.MaterializeResult:
    """The partition's golden samples: each eval set's golden file, validated and sampled deterministically."""
    p = project.partition(context)
    date, mv_key, wh, mv = p.date, p.mv_key, p.wh, p.mv
    if mv in p.project.registry.models:
        versions.save_snapshot(wh, mv)
    df, summary, problems = read_partition_golden(p.eval_sets(), p.project.base)
    if problems:
        raise dg.Failure(
            description="Golden-set validation failed; no model was called.\n" + "\n".join(problems),
            metadata={"problems": dg.MetadataValue.md("```\n" + "\n".join(problems) + "\n```")},
        )
    uri = p.write("golden", df := keep_units(df, config.only))  # a sequential run: its looks so far
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
            "preview": dg.MetadataValue.md(golden_preview(df)) if len(df) else "empty",
        }
    )
