"""Two synthetic runs for the per-sample diff (tests and the report benchmark).

:func:`write_pair` writes golden, responses and scores partitions of a baseline and a candidate run into a
warehouse through :meth:`Warehouse.write_table` (the tables' real layout and column contracts): ``n`` routing
samples (intent labels) and ``n_faq`` FAQ answers; the candidate mislabels every 7th routing sample
(``regressed``), fixes every 11th one the baseline got wrong (``improved``), rewords its FAQ answers, and one
answer carries a ``<script>`` breakout. Synthetic data, said so in every page it makes.
"""

from __future__ import annotations

import json

import pandas as pd

from eval_pipeline.storage import keys

DATE = "2026-01-07"
BASE, CAND = "prod-v1", "cand-v2"
HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
INTENTS = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "top_up_failed", "transfer_timing"]


FILLER = (
    "You can find it under Settings, Cards, where the card details and the limits are listed; if the card was "
    "ordered in the last week it may still be on its way, and the tracking link in the confirmation email "
    "shows where it is. "
)


def runs(n: int = 40, n_faq: int = 10, filler: int = 0) -> dict[str, dict[str, pd.DataFrame]]:
    """{version: {"golden", "responses", "scores": frames}} of the two runs (``filler``: sentences of ~40 words
    appended to every FAQ answer, for realistic answer lengths in the benchmark)."""
    pad = (" " + FILLER * filler).rstrip() if filler else ""
    golden, out = [], {BASE: {"responses": [], "scores": []}, CAND: {"responses": [], "scores": []}}
    for i in range(n):
        sid, label = f"route-{i:05d}", INTENTS[i % len(INTENTS)]
        golden.append(
            (
                "customer_support",
                "routing",
                sid,
                json.dumps({"query": f"question {i} about {label}"}),
                json.dumps(label),
                "cards" if i % 2 else "transfers",
            )
        )
        base_ok = i % 11 != 3
        cand_ok = (i % 7 != 0) if base_ok else True
        for mv, ok in ((BASE, base_ok), (CAND, cand_ok)):
            text = label if ok else INTENTS[(i + 1) % len(INTENTS)]
            if mv == CAND and i == 0:
                text = HOSTILE
            out[mv]["responses"].append(("customer_support", "routing", sid, 0, text))
            out[mv]["scores"].append(
                (
                    "customer_support",
                    "routing",
                    sid,
                    0,
                    "deterministic",
                    "exact_label",
                    float(ok),
                    ok,
                    "label matches" if ok else f"expected {label}, got {text[:40]}",
                )
            )
    for i in range(n_faq):
        sid = f"faq-{i:05d}"
        golden.append(
            (
                "customer_support",
                "faq",
                sid,
                json.dumps({"messages": [{"role": "user", "content": f"How do I do thing {i}?"}]}),
                json.dumps(f"Open the app and tap thing {i}."),
                "account",
            )
        )
        for mv, text, score in (
            (BASE, f"Open the app, then tap thing {i} in settings.{pad}", 4.0),
            (CAND, f"Open the app and go to settings, then choose thing {i}.{pad}", 4.0 + (i % 3 - 1)),
        ):
            out[mv]["responses"].append(("customer_support", "faq", sid, 0, text))
            out[mv]["scores"].append(
                (
                    "customer_support",
                    "faq",
                    sid,
                    0,
                    "judge",
                    "helpfulness",
                    score,
                    score >= 3,
                    f"judge: score {score}, the answer {'covers' if score >= 4 else 'misses'} the step",
                )
            )
    g = pd.DataFrame(
        golden, columns=["suite", "eval_set", "sample_id", "input_json", "expected_json", "category"]
    )
    res = {}
    for mv, t in out.items():
        resp = pd.DataFrame(t["responses"], columns=["suite", "eval_set", "sample_id", "repeat", "text"])
        sc = pd.DataFrame(
            t["scores"],
            columns=[
                "suite",
                "eval_set",
                "sample_id",
                "repeat",
                "family",
                "metric",
                "value",
                "passed",
                "reason",
            ],
        )
        sc = sc.merge(
            g[["suite", "eval_set", "sample_id", "category"]], on=["suite", "eval_set", "sample_id"]
        )
        res[mv] = {"golden": g, "responses": resp, "scores": sc}
    return res


def write_pair(wh, n: int = 40, n_faq: int = 10, date: str = DATE, filler: int = 0) -> None:
    """Write both runs' golden / responses / scores partitions (one file per family) into ``wh``."""
    for mv, t in runs(n, n_faq, filler).items():
        part = {"date": date, "model_version": mv}
        wh.write_table(keys.GOLDEN, t["golden"], part)
        wh.write_table(keys.RESPONSES, t["responses"], part)
        for fam, rows in t["scores"].groupby("family"):
            wh.write_table(keys.SCORES, rows.reset_index(drop=True), {"family": fam, **part})
