"""Labelled reviews back into judge calibration: every label counts at once; the blocking rule is stated.

In: the labelled review files under ``<data_dir>/reviews/`` (``*.jsonl`` / ``*.csv``: what
``eval-pipeline review`` writes, or an export labelled by hand), each validated by
:func:`eval_pipeline.ingestion.reviews.ingest_review` (errors name file, line and field); the judge model
and the project (which eval sets that model judges). Out: :class:`ReviewCalibration`, read by the
``judge_calibration`` asset:

* ``metrics``: one entry ``human_review/<dimension>`` per labelled dimension (``pass_fail`` for whole-item
  verdicts, ``preference`` - pairwise agreement - for the preferred answers of pairwise items), the judge-vs-human
  agreement of :func:`eval_pipeline.evaluators.calibration_metrics.rating_metrics_from_frame` over
  **every** label of that dimension (``n`` = the number of labels; three new labels raise it by three);
* ``reported_only``: the entries with fewer than ``min_n_to_decide`` labels (20 by default). They are
  reported with their interval and ``n`` but do not decide whether judge thresholds may block: a handful
  of labels gives an interval too wide to clear any bar, and would silently turn a calibrated judge into
  a warn-only one. The rule and the entries it holds back are in ``summary`` (the payload's
  ``human_review`` and the asset's metadata);
* ``summary``: files, labelled items, labels per dimension, labels without a judge score (not
  comparable, left out and counted), the rule.

:func:`deciding_metrics` drops the held-back entries from a calibration's metrics before the gate
(:func:`eval_pipeline.evaluators.calibration.may_block` does the same with a stored payload).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from eval_pipeline.evaluators.calibration_metrics import pairwise_agreement, rating_metrics_from_frame
from eval_pipeline.ingestion.reviews import PREFERENCE_COLUMNS, RATING_COLUMNS, ingest_review
from eval_pipeline.project.loader import Project, load_project

PREFIX = "human_review/"
REVIEW_GLOBS = ("*.jsonl", "*.csv")
PREFERENCE = "preference"  # the entry of pairwise items' preferred answers (human_review/preference)
MIN_N_TO_DECIDE = 20  # labels of one dimension before they may decide whether a judge blocks


def labelled_review_files(data_dir: str | Path) -> list[Path]:
    """Labelled review files under ``<data_dir>/reviews`` (``*.jsonl`` and ``*.csv``), sorted."""
    d = Path(data_dir) / "reviews"
    return sorted({p for g in REVIEW_GLOBS for p in d.glob(g) if p.is_file()})


def labelled_reviews(files: Sequence[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rating rows, pairwise preference rows) of every file (``ingestion.reviews.RATING_COLUMNS`` /
    ``PREFERENCE_COLUMNS`` + ``file``), each file validated by :func:`eval_pipeline.ingestion.reviews.ingest_review`."""

    got = [(ingest_review(p), p.name) for p in files]
    out = []
    for attr, cols in (("ratings", RATING_COLUMNS), ("preferences", PREFERENCE_COLUMNS)):
        frames = [getattr(g, attr).assign(file=name) for g, name in got if len(getattr(g, attr))]
        out.append(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*cols, "file"]))
    return out[0], out[1]


def labelled_ratings(files: Sequence[Path]) -> pd.DataFrame:
    """Rating rows (``ingestion.reviews.RATING_COLUMNS`` + ``file``) of every file."""
    return labelled_reviews(files)[0]


def _preference_metrics(prefs: pd.DataFrame) -> dict[str, float]:
    """Pairwise agreement of the judge's A / B / tie with the human's A / B (human ties are not comparable)."""

    code = {"A": 1, "B": 2, "tie": 0}
    return pairwise_agreement(prefs["human"].map(code).to_numpy(), prefs["judge"].map(code).to_numpy())


def judged_by(ratings: pd.DataFrame, project: Project, judge_model: str) -> pd.DataFrame:
    """The rating rows of eval sets judged by ``judge_model`` (a panel's rows are not any one member's:
    their judge scores are the panel's)."""

    sets = {
        (s.name, es.name)
        for s in project.suites.values()
        for es in s.eval_sets
        if es.family == "judge" and es.judge_config.model == judge_model
    }
    keep = [(s, e) in sets for s, e in zip(ratings["suite"], ratings["eval_set"], strict=True)]
    return ratings.loc[pd.Series(keep, index=ratings.index, dtype=bool)]


def labelled_review_metrics(
    data_dir: str | Path,
    judge_model: str | None = None,
    project: Project | None = None,
    prefix: str = PREFIX,
) -> dict[str, dict[str, float]]:
    """Judge-vs-human agreement per dimension over every labelled review row (``{prefix}<dimension>``).

    With ``judge_model``, only rows of eval sets judged by that model count (eval sets are looked up in
    ``project``, loaded from ``data_dir`` when not given). Rows without a judge score are left out.
    """
    return review_calibration(data_dir, judge_model, project, prefix=prefix).metrics


@dataclass
class ReviewCalibration:
    """What the labelled reviews add to one judge's calibration (see the module docstring)."""

    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    reported_only: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        """One paragraph for the calibration report: how many labels came from review and what decides."""
        s = self.summary
        if not s.get("labels"):
            return "Human review: no labelled review of this judge's eval sets in data/reviews/."
        dims = ", ".join(f"{d} n={n}" for d, n in s["n_per_dimension"].items())
        text = (
            f"Human review: {s['labels']} labels from {s['items']} reviewed items in {len(s['files'])} file(s) "
            f"of data/reviews/ ({dims}), all in the `human_review/*` rows."
        )
        if s["without_judge_score"]:
            text += f" {s['without_judge_score']} label(s) had no judge score to compare and are left out."
        if self.reported_only:
            text += (
                f" Reported, not deciding whether the judge may block (fewer than {s['min_n_to_decide']} labels): "
                + ", ".join(self.reported_only)
                + "."
            )
        return text


def review_calibration(
    data_dir: str | Path,
    judge_model: str | None = None,
    project: Project | None = None,
    min_n_to_decide: int = MIN_N_TO_DECIDE,
    prefix: str = PREFIX,
) -> ReviewCalibration:
    """Every labelled review row of ``judge_model``'s eval sets as calibration entries, with the rule stated."""

    files = labelled_review_files(data_dir)
    ratings, prefs = labelled_reviews(files)
    if judge_model is not None and (len(ratings) or len(prefs)):
        proj = project or load_project(Path(data_dir))
        ratings, prefs = judged_by(ratings, proj, judge_model), judged_by(prefs, proj, judge_model)
    scored = ratings.dropna(subset=["judge"])
    metrics = rating_metrics_from_frame(scored, prefix=prefix) if len(scored) else {}
    counts = {str(d): int(n) for d, n in scored["dimension"].value_counts().sort_index().items()}
    # pairwise items: the preferred answer (A / B) against the judge's final A / B / tie
    comparable = prefs[prefs["human"].isin(["A", "B"]) & prefs["judge"].notna()]
    if len(comparable):
        metrics[f"{prefix}{PREFERENCE}"] = _preference_metrics(comparable)
        counts[PREFERENCE] = len(comparable)
    scored = pd.concat([scored, comparable.assign(dimension=PREFERENCE)], ignore_index=True)
    held = sorted(f"{prefix}{d}" for d, n in counts.items() if n < min_n_to_decide)
    summary = {
        "source": "data/reviews/",
        "files": sorted(set(scored["file"])),
        "items": int(scored["review_id"].nunique()),
        "labels": len(scored),
        "n_per_dimension": counts,
        "without_judge_score": len(ratings) + len(prefs) - len(scored) - int((prefs["human"] == "tie").sum()),
        "human_ties": int(
            (prefs["human"] == "tie").sum()
        ),  # a preferred "tie" is not comparable, counted here
        "min_n_to_decide": min_n_to_decide,
        "deciding": sorted(k for k in metrics if k not in held),
        "reported_only": held,
        "rule": (
            f"every review label is in the human_review/* entries; an entry decides whether judge thresholds "
            f"may block only with n >= {min_n_to_decide} labels, smaller ones are reported with their interval"
        ),
    }
    return ReviewCalibration(metrics=metrics, reported_only=held, summary=summary)


def deciding_metrics(
    metrics: Mapping[str, Mapping[str, Any]], reported_only: Sequence[str] = ()
) -> dict[str, Mapping[str, Any]]:
    """``metrics`` without the entries that are reported only (they do not decide whether a judge blocks)."""
    skip = set(reported_only)
    return {k: v for k, v in metrics.items() if k not in skip}
