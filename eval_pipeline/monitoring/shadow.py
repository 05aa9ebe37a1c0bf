"""Shadow comparison: a candidate model answers the day's sampled production inputs and the
pairwise judge compares its answers with the production outputs.

Flow (lead wiring):

1. :func:`shadow_requests` - the candidate's inputs (redacted text: raw text is never stored, so
   the candidate sees exactly what the judge and the warehouse see).
2. inference runs them (inference helper) -> a frame ``request_id, text[, error_category]``.
3. :func:`build_shadow_pairs` - the frame the judge's pairwise mode takes
   (``eval_pipeline.evaluators.judge.judge_pairwise_verdicts``: candidate in ``response_text``,
   production in ``baseline_text``; the judge runs both orders and maps outcomes to
   ``candidate`` / ``baseline`` / ``tie``).
4. :func:`shadow_win_rates` - win rate of the candidate with a Wilson interval, overall and per
   category (ties count half), from the verdicts (``outcome``) or the ``pairwise_win`` scores.

:func:`run_shadow` is that flow for the ``shadow_comparison`` asset: in the day's stored sample, the
candidate model version, the config (``shadow``: candidate, tasks, pairwise judge, ``max_samples``,
``min_n``) and two ``execute(requests) -> responses`` functions (candidate, judge); out a
:class:`ShadowOutcome` (pairs, verdicts, win rates, ``shadow_decision`` verdict with interval and n).
The candidate's prompts are rendered by :func:`shadow_model_requests`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from eval_pipeline.evaluators import judge
from eval_pipeline.inference.prompts import render
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.monitoring.feedback import wilson
from eval_pipeline.monitoring.pii import redactor_for
from eval_pipeline.monitoring.sampling import judge_subsample

if TYPE_CHECKING:
    from eval_pipeline.project.monitoring import MonitoringConfig, ShadowConfig

PAIR_COLUMNS = [
    "sample_id",
    "repeat",
    "input",
    "expected",
    "response_text",
    "baseline_text",
    "error_category",
    "category",
    "metadata",
    "date",
    "model_version",
    "suite",
    "eval_set",
]


def shadow_requests(sample: pd.DataFrame) -> pd.DataFrame:
    """Inputs for the candidate: ``request_id, prompt_template, category, input`` (redacted)."""
    return pd.DataFrame(
        {
            "request_id": sample["request_id"].astype(str).to_numpy(),
            "prompt_template": sample["prompt_template"].to_numpy(),
            "category": sample["category"].to_numpy(),
            "input": sample["input_redacted"].to_numpy(),
        }
    )


def build_shadow_pairs(
    sample: pd.DataFrame,
    candidate: pd.DataFrame | Mapping[str, str],
    candidate_version: str,
    suite: str = "online_shadow",
) -> pd.DataFrame:
    """Pair production outputs with the candidate's answers to the same inputs.

    ``sample`` is the stored sample (``SAMPLE_COLUMNS``); ``candidate`` is a frame with
    ``request_id``, ``text`` (and optionally ``error_category``) or a mapping request_id -> text.
    Requests the candidate did not answer keep ``response_text`` null and
    ``error_category="replay_miss"`` (the judge skips them as infra errors, never as losses).
    Output columns: ``PAIR_COLUMNS`` (``sample_id`` = request id, ``model_version`` = candidate,
    ``metadata`` holds the production model version).
    """
    if isinstance(candidate, Mapping):
        candidate = pd.DataFrame({"request_id": list(candidate.keys()), "text": list(candidate.values())})
    missing = [c for c in ("request_id", "text") if c not in candidate.columns]
    if missing:
        raise ValueError(
            f"candidate answers lack column(s) {missing}; expected request_id, text[, error_category]"
        )
    cand = candidate.drop_duplicates("request_id", keep="last").set_index("request_id")
    rid = sample["request_id"].astype(str)
    text = rid.map(cand["text"])
    if "error_category" in cand.columns:
        err = rid.map(cand["error_category"]).astype(object)
    else:
        err = pd.Series([None] * len(rid), index=rid.index, dtype=object)
    answered = rid.isin(cand.index)
    err = err.where(answered, "replay_miss")
    err = err.where(pd.notna(err), None)
    return pd.DataFrame(
        {
            "sample_id": rid.to_numpy(),
            "repeat": np.zeros(len(rid), dtype=int),
            "input": sample["input_redacted"].to_numpy(),
            "expected": [None] * len(rid),
            "response_text": text.to_numpy(dtype=object),
            "baseline_text": sample["output_redacted"].to_numpy(),
            "error_category": err.to_numpy(dtype=object),
            "category": sample["category"].to_numpy(),
            "metadata": [
                {"production_model_version": mv, "prompt_template": pt}
                for mv, pt in zip(sample["model_version"], sample["prompt_template"])
            ],
            "date": sample["date"].to_numpy(),
            "model_version": candidate_version,
            "suite": suite,
            "eval_set": "shadow",
        },
        columns=PAIR_COLUMNS,
    )


_OUTCOME_VALUE = {"candidate": 1.0, "tie": 0.5, "baseline": 0.0}


def _per_request_values(results: pd.DataFrame, pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Frame ``sample_id, category, value`` (1 win / 0.5 tie / 0 loss), one row per request."""
    if "outcome" in results.columns:  # judge verdicts (one row per judge repeat)
        v = results[results["outcome"].notna()]
        df = pd.DataFrame(
            {"sample_id": v["sample_id"].astype(str), "value": v["outcome"].map(_OUTCOME_VALUE).astype(float)}
        )
        # as_index=False gives a frame (sample_id, value); pandas-stubs type it as a Series
        df = cast(pd.DataFrame, df.groupby("sample_id", as_index=False)["value"].median())
        if pairs is None:
            raise ValueError("verdicts carry no category: pass pairs=<build_shadow_pairs output>")
        cats = pairs.drop_duplicates("sample_id").set_index("sample_id")["category"]
        df["category"] = df["sample_id"].map(cats)
        return df
    if {"metric", "value"} <= set(results.columns):  # long-format scores
        v = results[(results["metric"] == "pairwise_win") & results["value"].notna()]
        return pd.DataFrame(
            {
                "sample_id": v["sample_id"].astype(str),
                "category": v.get("category"),
                "value": v["value"].astype(float),
            }
        )
    raise ValueError(
        "results need an 'outcome' column (judge verdicts) or 'metric'/'value' (pairwise_win scores)"
    )


def shadow_win_rates(
    results: pd.DataFrame, pairs: pd.DataFrame | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """Candidate win rate with a Wilson interval, overall (``category="__all__"``) and per category.

    Columns: ``category, n, wins, ties, losses, win_rate, ci_low, ci_high`` where
    ``win_rate = (wins + 0.5 * ties) / n``. Requests without a valid verdict are not counted.
    """
    df = _per_request_values(results, pairs)
    df["category"] = df["category"].astype(object).where(df["category"].notna(), "<none>")
    rows = []
    groups = [("__all__", df)] + [(str(c), g) for c, g in df.groupby("category", sort=True)]
    for cat, g in groups:
        vals = g["value"].to_numpy(dtype=float)
        m = wilson(float(vals.sum()), len(vals), alpha)
        rows.append(
            {
                "category": cat,
                "n": len(vals),
                "wins": int((vals > 0.5).sum()),
                "ties": int((vals == 0.5).sum()),
                "losses": int((vals < 0.5).sum()),
                "win_rate": m.value,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
            }
        )
    return pd.DataFrame(
        rows, columns=["category", "n", "wins", "ties", "losses", "win_rate", "ci_low", "ci_high"]
    )


def shadow_decision(win_rates: pd.DataFrame, min_n: int = 30) -> dict[str, Any]:
    """Rollout hint from the overall row: ``better`` if the interval is above 0.5, ``worse`` if
    below, else ``inconclusive`` (also when fewer than ``min_n`` judged requests)."""
    row = win_rates[win_rates["category"] == "__all__"].iloc[0]
    if row["n"] < min_n:
        verdict = "inconclusive"
    elif row["ci_low"] > 0.5:
        verdict = "better"
    elif row["ci_high"] < 0.5:
        verdict = "worse"
    else:
        verdict = "inconclusive"
    worse = win_rates[(win_rates["category"] != "__all__") & (win_rates["ci_high"] < 0.5)][
        "category"
    ].tolist()
    return {
        "verdict": verdict,
        "win_rate": float(row["win_rate"]),
        "ci": [float(row["ci_low"]), float(row["ci_high"])],
        "n": int(row["n"]),
        "categories_worse": worse,
    }


# --------------------------------------------------------------- the shadow_comparison step


def shadow_model_requests(
    sample: pd.DataFrame, model_version: Any, sc: ShadowConfig, day: str
) -> list[ModelRequest]:
    """One request per sampled (redacted) input, rendered with the candidate's prompt for the task."""

    params = model_version.params.api_params()
    out, templates = [], {}
    for rid, tpl, text in zip(
        sample["request_id"].astype(str),
        sample["prompt_template"].astype(str),
        sample["input_redacted"].astype(str),
    ):
        task = sc.tasks.get(tpl, sc.task)
        if task not in templates:
            templates[task] = model_version.prompt_template(task)
        system, user = render(
            templates[task],
            {"input": text, "metadata": {}, "sample_id": rid, "labels": []},
            f"shadow prompt {task} of {model_version.name}",
        )
        out.append(
            ModelRequest(
                sample_id=rid,
                model=model_version.model,
                messages=[{"role": "user", "content": user}],
                system=system,
                params=params,
                epoch=f"shadow:{day}",
            )
        )
    return out


@dataclass
class ShadowOutcome:
    """What ``shadow_comparison`` stores and shows: the pairs, the verdicts, win rates, the decision."""

    status: str  # "skipped" | "ok"
    message: str
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    win_rates: pd.DataFrame = field(default_factory=pd.DataFrame)
    decision: dict[str, Any] = field(default_factory=dict)
    cost_usd: float = 0.0


SKIPPED = "skipped: no shadow candidate configured (shadow.candidate_model_version in data/monitoring.yaml)"


def stored_verdicts(out: ShadowOutcome, day: str, candidate: str) -> pd.DataFrame:
    """The verdict rows as stored in the shadow table: with the candidate's answer text, day and name."""
    texts = out.pairs[["sample_id", "response_text"]].rename(columns={"response_text": "candidate_text"})
    return out.verdicts.merge(texts, on="sample_id", how="left").assign(date=day, candidate=candidate)


def shadow_report(out: ShadowOutcome, day: str, candidate: str, answers: str) -> dict[str, Any]:
    """``reports/monitoring/date=<d>/shadow.json``: status, decision, win rates, cost and where the
    answers came from (``answers``: the provenance label of the candidate's answers and the verdicts)."""
    return {
        "day": day,
        "status": out.status,
        "message": out.message,
        "candidate": candidate,
        "decision": out.decision,
        "win_rates": out.win_rates.to_dict("records"),
        "cost_usd": out.cost_usd,
        "answers": answers,
    }


def shadow_figures(out: ShadowOutcome, candidate: Any, tally: dict[str, Any]) -> dict[str, Any]:
    """What ``shadow_comparison`` reports besides its tables: status, candidate, verdict, win rate, cost."""
    numbers = {
        "status": out.status,
        "summary": out.message,
        "candidate": candidate.name,
        "candidate_key": candidate.key,
        **tally,
    }
    if out.decision:
        numbers.update(verdict=out.decision["verdict"], win_rate=round(out.decision["win_rate"], 4))
    return numbers


def run_shadow(
    sample: pd.DataFrame,
    model_version: Any,
    cfg: MonitoringConfig,
    day: str,
    answer: Callable[[list[ModelRequest]], list[ModelResponse]],
    judge_execute: judge.Executor,
) -> ShadowOutcome:
    """Candidate answers the sampled inputs (``answer(requests) -> responses``), the pairwise judge
    compares with production outputs in both orders, win rates with Wilson intervals per category."""

    sc = cfg.shadow
    sub = judge_subsample(sample, sc.max_samples)
    if sub.empty:
        return ShadowOutcome("skipped", "no sampled traffic today")
    responses = answer(shadow_model_requests(sub, model_version, sc, day))
    redactor = redactor_for(cfg.redaction, day)
    texts, _ = redactor.redact_series([r.text or "" for r in responses])
    cand = pd.DataFrame(
        {
            "request_id": [r.sample_id for r in responses],
            "text": [t if r.text is not None else None for t, r in zip(texts, responses)],
            "error_category": [r.error_category for r in responses],
        }
    )
    pairs = build_shadow_pairs(sub, cand, model_version.name)
    jc = cfg.shadow_judge_config()
    assert jc is not None  # load_monitoring_config refuses a shadow candidate without shadow.judge
    prompt = judge.load_prompt(jc, base_dir=cfg.base_dir)
    verdicts = judge.judge_pairwise_verdicts(pairs, jc, judge_execute, prompt=prompt)
    verdicts = verdicts.merge(pairs[["sample_id", "category"]], on="sample_id", how="left")
    valid = verdicts[verdicts["outcome"].notna()]
    if valid.empty:
        return ShadowOutcome(
            "ok",
            "no valid pairwise verdicts (candidate or judge errors)",
            pairs,
            verdicts,
            cost_usd=float(sum(r.cost_usd for r in responses) + verdicts["cost_usd"].sum()),
        )
    rates = shadow_win_rates(valid, pairs)
    decision = shadow_decision(rates, sc.min_n)
    msg = (
        f"{model_version.name} vs production: win rate {decision['win_rate']:.3f} "
        f"[{decision['ci'][0]:.3f}, {decision['ci'][1]:.3f}] on {decision['n']} requests -> {decision['verdict']}"
    )
    return ShadowOutcome(
        "ok",
        msg,
        pairs,
        verdicts,
        rates,
        decision,
        float(sum(r.cost_usd for r in responses) + verdicts["cost_usd"].sum()),
    )
