"""Judge calibration data: the human-labelled datasets and the judge's input built from them.

In: a human-labelled JSONL file (``data/calibration/<name>.jsonl``, a registry name from
:data:`RATING_DATASETS` / :data:`PAIRWISE_DATASETS`). Out: the judge's input frame plus the
human labels (:func:`build_rating_samples`, :func:`build_pairwise_samples`), ``n`` rows sampled
deterministically (:func:`sample_in_hash_order`: order by ``sha256(seed|id)``, stable under file
reordering), and the suite's judge config with the dataset's rubric
(:func:`rating_judge_config`, :func:`pairwise_judge_config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from eval_pipeline.evaluators.judge import JudgeConfig, JudgeDimension
from eval_pipeline.ingestion.golden import read_jsonl
from eval_pipeline.project.hashing import sha256_text

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "calibration"


# --------------------------------------------------------------------------------------
# Dataset registry
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RatingSpec:
    """How a numeric-rating dataset maps onto a pointwise judge rubric."""

    response_field: str  # key of ``input`` holding the text that humans rated
    context_fields: tuple[str, ...]  # keys of ``input`` shown to the judge as the task
    reference_field: str | None  # key of ``input`` holding a reference answer, if any
    dimensions: tuple[JudgeDimension, ...]


def rated_on(scale: tuple[int, int], **descriptions: str) -> tuple[JudgeDimension, ...]:
    """The rubric dimensions a dataset's humans rated on one ``scale``: one per ``name=description``."""
    return tuple(JudgeDimension(name=name, scale=scale, description=d) for name, d in descriptions.items())


RATING_DATASETS: dict[str, RatingSpec] = {
    "sf_dialogue_nlg_ratings": RatingSpec(
        response_field="system_output",
        context_fields=("dialogue_act",),
        reference_field="reference",
        dimensions=rated_on(
            (1, 6),
            informativeness="Does the utterance convey all the information in the dialogue act (and nothing false)?",
            naturalness="Could a native speaker have said this? Fluent, grammatical, natural.",
            overall="Overall quality of the system utterance.",
        ),
    ),
    "topicalchat_usr_response_ratings": RatingSpec(
        response_field="response",
        context_fields=("dialogue_history", "knowledge"),
        reference_field=None,
        dimensions=(
            *rated_on(
                (1, 3),
                naturalness="Is the response natural, like a person would say?",
                coherence="Does the response follow coherently from the dialogue history?",
                engagingness="Is the response engaging and interesting?",
            ),
            *rated_on((1, 5), overall="Overall quality of the response."),
        ),
    ),
}

PAIRWISE_DATASETS: dict[str, JudgeDimension] = {
    "llmbar_pairwise": JudgeDimension(
        name="instruction_following",
        description="Which output honestly and precisely executes the instruction? Prefer correctness and "
        "faithfulness to the instruction over style or length.",
    ),
    "human_preference_pairwise": JudgeDimension(
        name="overall_preference",
        description="Which output would an expert human prefer: more helpful, correct, relevant and clear?",
    ),
}


def dataset_name(path: str | Path) -> str:
    """Registry name of a dataset file (its stem), validated against the known datasets."""
    name = Path(path).name.removesuffix(".jsonl")
    if name not in RATING_DATASETS and name not in PAIRWISE_DATASETS:
        known = sorted([*RATING_DATASETS, *PAIRWISE_DATASETS])
        raise ValueError(f"{path}: unknown calibration dataset {name!r}; known: {known}")
    return name


# --------------------------------------------------------------------------------------
# 1. Data
# --------------------------------------------------------------------------------------
def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file (lines by :func:`eval_pipeline.ingestion.golden.read_jsonl`); errors name the file and line."""
    path = Path(path)
    out = []
    for lineno, rec in read_jsonl(path):
        if "id" not in rec:
            raise ValueError(f"{path}:{lineno}: expected an object with an 'id' field")
        rec["_line"] = lineno
        out.append(rec)
    return out


def sample_in_hash_order(
    records: Sequence[dict[str, Any]], n: int | None, seed: int = 0
) -> list[dict[str, Any]]:
    """Deterministic sample of ``n`` records in hash order: order by ``sha256(f"{seed}|{id}")``, take
    the first n (unlike :func:`eval_pipeline.ingestion.golden.sample_in_file_order`, the result is in
    that order, not the file's). The choice does not depend on the file's row order; ``n=None``
    keeps all records.
    """
    ranked = sorted(records, key=lambda r: sha256_text(f"{seed}|{r['id']}"))
    return ranked if n is None else ranked[:n]


def _field(rec: dict[str, Any], key: str, path: Path) -> Any:
    inp = rec.get("input")
    if not isinstance(inp, dict) or key not in inp:
        raise ValueError(f"{path}:{rec.get('_line')}: input.{key} missing (record {rec.get('id')})")
    return inp[key]


def build_rating_samples(
    path: str | Path, n: int | None = 50, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judge input frame and human ratings for a numeric-rating dataset.

    Returns ``(samples, human)``: ``samples`` has the judge's input columns (``sample_id,
    repeat, response_text, error_category, input, expected, metadata, category``);
    ``human`` is long: ``sample_id, dimension, human, scale_lo, scale_hi``.
    """
    path = Path(path)
    spec = RATING_DATASETS[dataset_name(path)]
    recs = sample_in_hash_order(load_jsonl(path), n, seed)
    rows, human = [], []
    for rec in recs:
        context = {k: _field(rec, k, path) for k in spec.context_fields}
        ref = _field(rec, spec.reference_field, path) if spec.reference_field else None
        meta = rec.get("metadata") or {}
        rows.append(
            {
                "sample_id": rec["id"],
                "repeat": 0,
                "response_text": _field(rec, spec.response_field, path),
                "error_category": None,
                "input": context,
                "expected": ref,
                "metadata": meta,
                "category": meta.get("category"),
            }
        )
        expected = rec.get("expected")
        for d in spec.dimensions:
            if not isinstance(expected, dict) or not isinstance(expected.get(d.name), (int, float)):
                raise ValueError(
                    f"{path}:{rec['_line']}: expected.{d.name} missing or not a number (record {rec['id']})"
                )
            human.append(
                {
                    "sample_id": rec["id"],
                    "dimension": d.name,
                    "human": float(expected[d.name]),
                    "scale_lo": d.scale[0],
                    "scale_hi": d.scale[1],
                }
            )
    return pd.DataFrame(rows), pd.DataFrame(
        human, columns=["sample_id", "dimension", "human", "scale_lo", "scale_hi"]
    )


def build_pairwise_samples(
    path: str | Path, n: int | None = 50, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """Judge input frame (``response_text`` = output_1, ``baseline_text`` = output_2) and human labels.

    Human labels are a Series indexed by sample_id with values 1 (output_1 better) or 2.
    """
    path = Path(path)
    dataset_name(path)
    recs = sample_in_hash_order(load_jsonl(path), n, seed)
    rows, labels = [], {}
    for rec in recs:
        if rec.get("expected") not in (1, 2):
            raise ValueError(
                f"{path}:{rec['_line']}: expected must be 1 or 2, got {rec.get('expected')!r} (record {rec['id']})"
            )
        meta = rec.get("metadata") or {}
        rows.append(
            {
                "sample_id": rec["id"],
                "repeat": 0,
                "response_text": _field(rec, "output_1", path),
                "baseline_text": _field(rec, "output_2", path),
                "error_category": None,
                "input": _field(rec, "instruction", path),
                "expected": None,
                "metadata": meta,
                "category": meta.get("category"),
            }
        )
        labels[rec["id"]] = int(rec["expected"])
    return pd.DataFrame(rows), pd.Series(labels, name="human", dtype="int64")


def rating_judge_config(base: JudgeConfig, dataset: str) -> JudgeConfig:
    """The suite's judge (model, prompt, sampling, repeats) with the dataset's rubric."""
    spec = RATING_DATASETS[dataset]
    return base.model_copy(
        update={
            "mode": "pointwise",
            "dimensions": list(spec.dimensions),
            "use_reference": spec.reference_field is not None,
        }
    )


def pairwise_judge_config(base: JudgeConfig, dataset: str) -> JudgeConfig:
    """The suite's judge with the pairwise dataset's criterion (no reference answer)."""
    return base.model_copy(
        update={"mode": "pairwise", "dimensions": [PAIRWISE_DATASETS[dataset]], "use_reference": False}
    )
