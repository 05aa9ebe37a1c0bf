"""When may a judge eval set's thresholds block? The judge-calibration blocking policy.

In: the warehouse (``keys.judge_calibration(model)``, the latest ``judge_calibration`` result per judge
model), an eval set with its ``judge:`` config, whether the run's answers were all live, and the suite (for the
judge prompt, part of the judge's version). Out: ``(may_block, note)``: a judge blocks only when every
panel member is calibrated for this judge version (:func:`eval_pipeline.evaluators.calibration.may_block`).
The ``eval_run`` asset (``defs/scoring/assets.py``) calls it before applying the thresholds.
"""

from __future__ import annotations

import json

from eval_pipeline.evaluators import calibration, judge
from eval_pipeline.project.suites import EvalSet, Suite
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse


def judge_calibration_status(
    warehouse: Warehouse, eval_set: EvalSet, live_run: bool = False, suite: Suite | None = None
) -> tuple[bool, str]:
    """May this judge eval set's thresholds block? Reads the latest judge_calibration result.

    ``live_run``: the run's answers are all live; a calibration computed from replayed or
    synthetic verdicts (``live_verdicts_only: false``) then never lets the judge block. A calibration
    of another judge version (model, rubric or prompt changed) never does either
    (:func:`eval_pipeline.evaluators.calibration.may_block`)."""
    cfg = eval_set.judge_config
    prompt = (
        judge.load_prompt(cfg, base_dir=suite.file.parent) if suite is not None else None
    )  # the version includes it
    notes = []
    for model in cfg.judge_models:  # a panel blocks only when every member is calibrated
        key = keys.judge_calibration(model)
        payload = (
            json.loads(warehouse.read_bytes(key))
            if cfg.min_calibration is not None and warehouse.exists(key)
            else None
        )
        ok, note = calibration.may_block(payload, cfg.single(model), prompt, live_run)
        if not ok:
            return False, note
        notes.append(note)
    return True, notes[0] if len(notes) == 1 else "; ".join(
        f"{m}: {n}" for m, n in zip(cfg.judge_models, notes)
    )
