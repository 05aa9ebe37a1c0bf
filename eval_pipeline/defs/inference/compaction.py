"""Compaction of the response store: ``response_store_compaction_job`` (no schedule; run it weekly or after backfills).

In: the response store of the deployment (``LLMResource.store``: the local journals of this host, the
segments beside them or on the S3 warehouse). Out: dead journals sealed into segments, the segments
merged into one per key-prefix shard (``eval_pipeline.inference.segments``), counts as op metadata.
Idempotent and safe while runs write (see the segments module).
"""

import dagster as dg

from eval_pipeline.defs.resources import LLMResource, WarehouseResource


@dg.op(description="Seal dead journals and merge the response store's segments per shard (idempotent).")
def compact_response_store(
    context: dg.OpExecutionContext, llm: LLMResource, warehouse: WarehouseResource
) -> dict:
    report = llm.store(warehouse.resolved_url()).compact()
    context.log.info(f"response store compacted: {report}")
    context.add_output_metadata({k: int(v) for k, v in report.items()})
    return report


@dg.job(
    description="Compact the response store (seal dead journals, one segment per key-prefix shard). Idempotent.",
    tags={"eval/kind": "maintenance"},
)
def response_store_compaction_job():
    compact_response_store()
