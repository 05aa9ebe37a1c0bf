"""The data of the per-sample diff of two runs (candidate vs baseline), one record per sample.

In: a warehouse (its ``golden`` / ``responses`` / ``scores`` partitions of the two runs, keys from
:mod:`eval_pipeline.storage.keys`), or the three frames of each run directly. Out: a dict for
:mod:`eval_pipeline.history.diff_page`: the two runs, the checks, the segments and one record per sample
(``samples``) with its input, expected output, both answers split into unchanged / changed pieces
(:mod:`difflib`, word level), every check's verdict and value on both sides with the judge's / check's
reason, the text similarity of the two answers, the sample's status (``regressed`` / ``improved`` /
``mixed`` / ``unchanged`` / ``only_one``) and the size of its change. Samples come sorted: regressed
first; among them those worse in a metric the stored regression report found regressed (``regressions``,
:func:`report_regressions`), then the largest change first.

A check's verdict per side is its pass fraction over the sample's graded repeats (1 or 0 with one
repeat); a check without pass/fail (a judge score, a cosine) compares its mean value in the metric's
direction (:func:`~eval_pipeline.project.regression_schema.metric_direction`). The answer shown is the
lowest repeat's. Nothing here is a test: the paired tests and the gate are in the regression report.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Hashable
from typing import Any

import duckdb
import pandas as pd

from eval_pipeline.history.sources import has_files
from eval_pipeline.history.sql import _quote
from eval_pipeline.project.regression_schema import metric_direction
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse

STATUS_ORDER = {"regressed": 0, "mixed": 1, "improved": 2, "only_one": 3, "unchanged": 4}
MAX_TEXT = 20_000  # characters of one answer / input kept in the page (the rest is cut, with a note)
_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]+|\s+")  # a word or a run of punctuation with the spaces before it
EPS = 1e-9
MAX_WORD_PAIRS = (
    1_000_000  # above this (words of one answer x the other's), the changed middle is diffed by lines
)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _run_frames(con: duckdb.DuckDBPyConnection, wh: Warehouse, date: str, mv: str) -> dict[str, pd.DataFrame]:
    """The golden, responses and scores rows of one run (empty frames when a table is absent)."""

    out = {}
    for table, cols in (
        (
            keys.GOLDEN,
            "suite, eval_set, sample_id, any_value(input_json) AS input_json, "
            "any_value(expected_json) AS expected_json, any_value(category) AS category",
        ),
        (
            keys.RESPONSES,
            "suite, eval_set, sample_id, arg_min(text, repeat) AS text, "
            "arg_min(error_category, repeat) AS error_category",
        ),
        (
            keys.SCORES,
            "suite, eval_set, sample_id, family, metric, avg(CAST(passed AS DOUBLE)) AS passed, "
            "avg(CAST(value AS DOUBLE)) AS value, first(reason ORDER BY repeat) AS reason, "
            "any_value(category) AS category",
        ),
    ):
        glob = wh.uri(f"{table}/{keys.run_files_glob(date, mv, table=table)}")
        if not has_files(con, glob):
            out[table] = pd.DataFrame()
            continue
        src = f"read_parquet({_quote(glob)}, hive_partitioning=true, hive_types_autocast=false, union_by_name=true)"
        if (
            table == keys.RESPONSES
        ):  # optional columns: error category, tool calls (an answer may be a call only)
            names = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
            if "error_category" not in names:
                cols = cols.replace("arg_min(error_category, repeat)", "NULL")
            if "tool_calls" in names:
                cols += ", arg_min(CAST(to_json(tool_calls) AS VARCHAR), repeat) AS tools"
        out[table] = con.execute(f"SELECT {cols} FROM {src} GROUP BY ALL").df()
    return out


def load_run_pair(
    warehouse: Warehouse, candidate: tuple[str, str], baseline: tuple[str, str]
) -> dict[str, Any]:
    """:func:`assemble` of two stored runs, each ``(date, model_version key)``. LookupError when a run has no scores."""
    con = warehouse.connect_duckdb()
    try:
        cand = _run_frames(con, warehouse, *candidate)
        base = _run_frames(con, warehouse, *baseline)
    finally:
        con.close()
    for (d, mv), fr in ((candidate, cand), (baseline, base)):
        if fr[keys.SCORES].empty:
            raise LookupError(
                f"no scores for {mv} on {d} under {warehouse.root}; run it first "
                f"(eval-pipeline run --model-version {mv} --date {d})"
            )
    golden = pd.concat([cand[keys.GOLDEN], base[keys.GOLDEN]], ignore_index=True)
    return assemble(
        cand[keys.SCORES],
        base[keys.SCORES],
        cand[keys.RESPONSES],
        base[keys.RESPONSES],
        golden,
        candidate=f"{candidate[1]}@{candidate[0]}",
        baseline=f"{baseline[1]}@{baseline[0]}",
        regressions=report_regressions(warehouse, candidate, baseline),
    )


def report_regressions(
    warehouse: Warehouse, candidate: tuple[str, str], baseline: tuple[str, str]
) -> list[dict[str, Any]]:
    """The overall regression rows of the candidate's stored regression report when it was tested against this
    baseline (``[]`` otherwise): ``{"set", "check", "measure", "effect", "ci_low", "ci_high", "n", "gating"}``."""
    key = keys.regression_report(*candidate)
    if not warehouse.exists(key):
        return []
    try:
        rep = json.loads(warehouse.read_bytes(key))
    except ValueError:
        return []
    if (rep.get("summary") or {}).get("baseline") != f"{baseline[1]}@{baseline[0]}":
        return []
    return [
        {
            "set": f"{r['suite']}/{r['eval_set']}",
            "check": f"{r['family']}:{r['metric']}",
            "measure": r.get("measure"),
            "effect": _score(r.get("effect")),
            "ci_low": _score(r.get("ci_low")),
            "ci_high": _score(r.get("ci_high")),
            "n": r.get("n_pairs"),
            "gating": bool(r.get("gating")),
        }
        for r in rep.get("rows") or []
        if r.get("verdict") == "regression" and r.get("segment") == "__all__"
    ]


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


def _pretty(v: Any) -> str:
    """A JSON cell as readable text: a conversation as ``role: content`` turns, else indented JSON."""
    s = _text(v)
    try:
        obj = json.loads(s) if s else None
    except ValueError:
        return s[:MAX_TEXT]
    if isinstance(obj, dict) and isinstance(obj.get("messages"), list):
        obj = obj["messages"]
    if isinstance(obj, list) and obj and all(isinstance(m, dict) and "role" in m for m in obj):
        return "\n\n".join(f"{m['role']}: {_text(m.get('content'))}" for m in obj)[:MAX_TEXT]
    if isinstance(obj, str):
        return obj[:MAX_TEXT]
    return json.dumps(obj, indent=1, ensure_ascii=False)[:MAX_TEXT] if obj is not None else ""


def _answer(r: Any) -> str:
    text = _text(r.get("text"))
    tools = _text(r.get("tools"))
    if tools and tools != "null":
        text = (text + "\n" if text else "") + f"[tool calls] {tools}"
    if not text and _text(r.get("error_category")):
        text = f"[error: {r.get('error_category')}]"
    return text[:MAX_TEXT]


def diff_pieces(a: str, b: str) -> tuple[list[list[Any]], list[list[Any]], float]:
    """Word-level diff of baseline ``a`` and candidate ``b``: ``(pieces_a, pieces_b, ratio)``; a piece is
    ``[text, changed]`` (changed 1: not in the other answer); ratio: the share of characters unchanged, in [0, 1]."""
    if a == b:
        return ([[a, 0]] if a else []), ([[b, 0]] if b else []), 1.0
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    # the common head and tail are equal pieces; only the middle goes through SequenceMatcher (which is
    # quadratic in the worst case: a long answer with one changed word costs its changed middle only)
    head = 0
    while head < min(len(ta), len(tb)) and ta[head] == tb[head]:
        head += 1
    tail = 0
    while tail < min(len(ta), len(tb)) - head and ta[-1 - tail] == tb[-1 - tail]:
        tail += 1
    mid_a, mid_b = ta[head : len(ta) - tail], tb[head : len(tb) - tail]
    if len(mid_a) * len(mid_b) > MAX_WORD_PAIRS:  # two long, different answers: diff them line by line
        mid_a, mid_b = _lines("".join(mid_a)), _lines("".join(mid_b))
    sm = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
    pa: list[list[Any]] = []  # [text, changed]: runs of equal "changed", text grown in place
    pb: list[list[Any]] = []

    def add(out: list[list[Any]], text: str, changed: int) -> None:
        if not text:
            return
        if out and out[-1][1] == changed:
            out[-1][0] += text
        else:
            out.append([text, changed])

    for out, toks in ((pa, ta), (pb, tb)):
        add(out, "".join(toks[:head]), 0)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        ch = 0 if op == "equal" else 1
        add(pa, "".join(mid_a[i1:i2]), ch)
        add(pb, "".join(mid_b[j1:j2]), ch)
    for out, toks in ((pa, ta), (pb, tb)):
        add(out, "".join(toks[len(toks) - tail :]), 0)
    # similarity: the share of both answers' characters left unchanged (difflib's ratio, in characters)
    same = sum(len(t) for out in (pa, pb) for t, changed in out if not changed)
    ratio = same / (len(a) + len(b))
    return pa, pb, round(ratio, 3)


def _score(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)


SampleKey = tuple[str, str, str]  # (suite, eval set, sample id)


def _side(rows: pd.DataFrame) -> dict[SampleKey, dict[str, dict[Hashable, Any]]]:
    """{(suite, eval_set, sample_id): {check: row}}."""
    out: dict[SampleKey, dict[str, dict[Hashable, Any]]] = {}
    for r in rows.to_dict("records"):
        out.setdefault((r["suite"], r["eval_set"], r["sample_id"]), {})[f"{r['family']}:{r['metric']}"] = r
    return out


def _by_sample(df: pd.DataFrame | None) -> dict[SampleKey, dict[Hashable, Any]]:
    if df is None or df.empty:
        return {}
    return {(r["suite"], r["eval_set"], r["sample_id"]): r for r in df.to_dict("records")}


def _delta(check: str, c: dict[Hashable, Any] | None, b: dict[Hashable, Any] | None) -> float:
    """Candidate - baseline of one check, in "better" units (positive: the candidate is better)."""
    if not c or not b:
        return 0.0
    cp, bp = _score(c.get("passed")), _score(b.get("passed"))
    if cp is not None and bp is not None and abs(cp - bp) > EPS:
        return cp - bp  # the verdict changed; else a score (a judge's 4 -> 3, both passing) may have
    cv, bv = _score(c.get("value")), _score(b.get("value"))
    if cv is None or bv is None:
        return 0.0
    d = cv - bv
    d = d / max(abs(cv), abs(bv), 1.0)  # judge scores 1..5 -> a fraction of the scale top
    return -d if metric_direction(check.split(":", 1)[1]) == "lower" else d


def assemble(
    cand_scores: pd.DataFrame,
    base_scores: pd.DataFrame,
    cand_resp: pd.DataFrame | None,
    base_resp: pd.DataFrame | None,
    golden: pd.DataFrame | None,
    *,
    candidate: str,
    baseline: str,
    regressions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The diff data (see the module docstring). Score frames: one row per sample and check with
    ``passed`` (pass fraction), ``value``, ``reason``, ``category``; responses: ``text`` (+ ``tools``)."""
    regressions = regressions or []
    focus = {(r["set"], r["check"]) for r in regressions}
    cs, bs = _side(cand_scores), _side(base_scores)
    cr, br, gd = _by_sample(cand_resp), _by_sample(base_resp), _by_sample(golden)
    checks = sorted({c for s in (cs, bs) for v in s.values() for c in v})
    check_ix = {c: i for i, c in enumerate(checks)}
    segments: dict[str, int] = {}
    samples: list[dict[str, Any]] = []
    for key in sorted(set(cs) | set(bs)):
        suite, eval_set, sample_id = key
        c_rows, b_rows = cs.get(key, {}), bs.get(key, {})
        g = gd.get(key, {})
        seg = _text(g.get("category")) or next(
            (
                _text(r.get("category"))
                for r in (*c_rows.values(), *b_rows.values())
                if _text(r.get("category"))
            ),
            "(none)",
        )
        seg_i = segments.setdefault(seg, len(segments))
        a_base = _answer(br.get(key, {}))
        a_cand = _answer(cr.get(key, {}))
        pa, pb, ratio = diff_pieces(a_base, a_cand)
        rows, worse, better, size, hits = [], 0, 0, 0.0, 0
        for ch in sorted(set(c_rows) | set(b_rows)):
            c, b = c_rows.get(ch), b_rows.get(ch)
            d = _delta(ch, c, b)
            if d < -EPS:
                worse += 1
                hits += (f"{suite}/{eval_set}", ch) in focus
            elif d > EPS:
                better += 1
            size += abs(d)
            rows.append(
                [
                    check_ix[ch],
                    _score(b.get("passed")) if b else None,
                    _score(b.get("value")) if b else None,
                    _text(b.get("reason"))[:2000] if b else "",
                    _score(c.get("passed")) if c else None,
                    _score(c.get("value")) if c else None,
                    _text(c.get("reason"))[:2000] if c else "",
                    round(d, 4),
                ]
            )
        if not c_rows or not b_rows:
            status = "only_one"
        elif worse and better:
            status = "mixed"
        else:
            status = "regressed" if worse else "improved" if better else "unchanged"
        samples.append(
            {
                "id": sample_id,
                "set": f"{suite}/{eval_set}",
                "seg": seg_i,
                "st": status,
                "size": round(size, 4),
                "focus": hits,
                "sim": ratio,
                "input": _pretty(g.get("input_json")),
                "expected": _pretty(g.get("expected_json")),
                "base": pa,
                "cand": pb,
                "checks": rows,
            }
        )
    samples.sort(key=lambda s: (STATUS_ORDER[s["st"]], -s["focus"], -s["size"], s["set"], s["id"]))
    counts = {k: 0 for k in STATUS_ORDER}
    for s in samples:
        counts[s["st"]] += 1
    return {
        "candidate": candidate,
        "baseline": baseline,
        "checks": checks,
        "segments": list(segments),
        "sets": sorted({s["set"] for s in samples}),
        "counts": counts,
        "regressions": regressions,
        "samples": samples,
    }
