"""One partition's inference apart from Dagster: what to ask, the responses table, its summary.

In: the partition's golden rows and eval sets, its model version and date, a provider factory for
agent loops. Out: an :class:`InferencePlan` (the requests per eval set, in order, and an agent
spec per request), the ``responses`` table of the answers (:func:`response_frame`), and the
figures of the run (:func:`response_figures`: plain numbers, JSON-able detail and a markdown
summary) that ``model_responses`` reports. The asset only runs the plan and writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from eval_pipeline.inference.agent import agent_specs, run_agent_loops
from eval_pipeline.inference.prompts import build_requests
from eval_pipeline.inference.provenance import provenance_label
from eval_pipeline.inference.runner import prompt_cache_split, run_requests, summarize
from eval_pipeline.inference.trajectory import response_table_row
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.project.schemas import RESPONSE_KEY_COLUMNS
from eval_pipeline.storage.claims import step_claim


@dataclass
class InferencePlan:
    """``entries``: (suite, eval set, prompt hash, requests) in order; ``specs``: an agent spec per
    request of an eval set with an agent loop, else None."""

    entries: list[tuple[str, str, str, list[ModelRequest]]] = field(default_factory=list)
    specs: list[Any] = field(default_factory=list)

    @property
    def requests(self) -> list[ModelRequest]:
        return [r for *_, reqs in self.entries for r in reqs]

    def per_entry(
        self, responses: list[ModelResponse], fn: Callable[[list[ModelResponse]], Any]
    ) -> list[Any]:
        """``fn`` over each entry's slice of ``responses`` (the plan's order)."""
        out, i = [], 0
        for *_, reqs in self.entries:
            out.append(fn(responses[i : i + len(reqs)]))
            i += len(reqs)
        return out


def plan_inference(
    golden: pd.DataFrame,
    eval_sets: list[tuple[Any, Any]],
    model_version: Any,
    date: str,
    registry: Any,
    provider_for: Callable[[Any], Any],
) -> InferencePlan:
    """The requests of every ``(suite, eval set)`` with golden rows, and their agent specs."""
    plan = InferencePlan()
    for suite, es in eval_sets:
        g = golden[(golden["suite"] == suite.name) & (golden["eval_set"] == es.name)]
        if g.empty:
            continue
        reqs = build_requests(g, suite, es, model_version, date)
        plan.entries.append((suite.name, es.name, model_version.prompt_hash(es.task), reqs))
        plan.specs += agent_specs(es, g, reqs, f"{suite.file}: eval set {es.name}", registry, provider_for)
    return plan


def run_plan(
    plan: InferencePlan,
    provider: Any,
    store: Any,
    claim: tuple[Any, str, str],
    log: Callable[[str], None],
    **run: Any,
) -> list[ModelResponse]:
    """Answer every request of ``plan`` through ``store`` and ``provider`` (agent loops when the plan
    has agent specs, else :func:`~.runner.run_requests` with ``run``'s batch, progress, timing,
    budget), holding the step claim ``claim`` = (backend, date, model version key): one process at a
    time per partition, a second waits and then finds every answer in the store."""
    backend, date, model_version_key = claim
    with step_claim(backend, "model_responses", date, model_version_key, log=log):
        if any(plan.specs):  # agent loops (not batched: each step needs the one before)
            run.pop("batch", None)
            responses = run_agent_loops(provider, plan.requests, plan.specs, store, **run)
        else:
            responses = run_requests(provider, plan.requests, store, **run)
        store.publish()
    return responses


def response_frame(
    plan: InferencePlan, responses: list[ModelResponse], date: str, model_version_key: str, config_hash: str
) -> pd.DataFrame:
    """The ``responses`` table: one row per answer, keyed by date, model version, suite and eval set."""
    keys = {"date": date, "model_version": model_version_key}
    rows, i = [], 0
    for suite_name, es_name, prompt_hash, reqs in plan.entries:
        entry = {
            **keys,
            "suite": suite_name,
            "eval_set": es_name,
            "config_hash": config_hash,
            "prompt_hash": prompt_hash,
        }
        rows += [{**response_table_row(answer), **entry} for answer in responses[i : i + len(reqs)]]
        i += len(reqs)
    df = pd.DataFrame(rows)
    return df[RESPONSE_KEY_COLUMNS + [c for c in df.columns if c not in RESPONSE_KEY_COLUMNS]]


def response_figures(
    plan: InferencePlan, responses: list[ModelResponse], api_calls: int, recordings_label: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(numbers, json detail, summary)`` of a run: counts, cost and percentiles; the prompt-cache
    split per prompt template and the answer provenance; the summary dict (its markdown is
    :func:`summary_markdown`)."""
    summary = summarize(responses)
    summary["api_calls"] = api_calls
    cache_by_template = {
        f"{es_name} ({prompt_hash})": split
        for (_, es_name, prompt_hash, _), split in zip(
            plan.entries, plan.per_entry(responses, prompt_cache_split)
        )
    }
    provenance = summary["answer_provenance"]
    numbers = {
        "batch_answers": int(summary.get("batch_answers", 0)),
        "prompt_cache_hit_rate": float(summary["prompt_cache"]["hit_rate"] or 0.0),
        "dagster/row_count": len(responses),
        "samples": len(responses),
        "api_calls": api_calls,
        "cache_hits": int(summary.get("cache_hits", 0)),
        "cost_usd": float(summary.get("cost_usd") or 0.0),
        "latency_p95_s": float(summary.get("latency_s", {}).get("p95") or 0.0),
        "ttft_p95_s": float(summary.get("ttft_s", {}).get("p95") or 0.0),
        "answers": provenance_label(provenance, recordings_label),
        "non_live_answers": int(len(responses) - provenance.get("live", 0)),
    }
    detail = {
        "prompt_cache": {"all": summary["prompt_cache"], "by_prompt_template": cache_by_template},
        "answer_provenance": provenance,
    }
    return numbers, detail, summary


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def _cache_cell(c: dict[str, Any]) -> str:
    if not c.get("n"):
        return "-"
    lo, hi = c["hit_rate_ci95"]
    return f"{c['hit_rate']:.1%} [{lo:.1%}, {hi:.1%}] (n={c['n']})"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The run summary as a two-column markdown table."""
    lat, ttft = summary.get("latency_s", {}), summary.get("ttft_s", {})
    cache = summary.get("prompt_cache") or {}
    rows = [
        ("samples", summary.get("samples")),
        ("api calls", summary.get("api_calls", "-")),
        ("cache hits", summary.get("cache_hits")),
        ("latency p50 / p95 / p99 (s)", " / ".join(_fmt(lat.get(k)) for k in ("p50", "p95", "p99"))),
        ("TTFT p50 / p95 / p99 (s)", " / ".join(_fmt(ttft.get(k)) for k in ("p50", "p95", "p99"))),
        (
            "input / output tokens",
            f"{summary.get('input_tokens', 0):,} / {summary.get('output_tokens', 0):,}",
        ),
        ("cost (USD, incl. cached)", _fmt(summary.get("cost_usd"), ".4f")),
        (
            "errors by category",
            ", ".join(f"{k}={v}" for k, v in summary.get("errors_by_category", {}).items()) or "none",
        ),
        (
            "answer provenance",
            ", ".join(f"{k}={v}" for k, v in summary.get("answer_provenance", {}).items()) or "-",
        ),
        ("batch answers (no latency/TTFT measured)", summary.get("batch_answers", 0)),
        ("prompt cache hit rate (n)", _cache_cell(cache)),
        (
            "latency p50 cache hit / miss (s)",
            " / ".join(_fmt(cache.get(k)) for k in ("latency_p50_hit", "latency_p50_miss")),
        ),
        (
            "TTFT p50 cache hit / miss (s)",
            " / ".join(_fmt(cache.get(k)) for k in ("ttft_p50_hit", "ttft_p50_miss")),
        ),
    ]
    return "| | |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
