"""What the config-change sensor and the schedules need to know about the data folder.

Plain Python (no Dagster): content hashes of the watched files, the current model-version
partition keys, and a *change plan* that says which model versions to evaluate, re-run or
re-score after a file changed. The Dagster layer (``eval_pipeline/defs/sensors.py``)
turns the plan into dynamic-partition requests and run requests.

Watched files (paths relative to the data folder):

* ``models.yaml``: the model registry. A new or edited entry gets a new partition key.
* ``prompts/*``: prompt templates. Editing one changes the key of every version using it.
* ``suites/*.yaml``: suites. A change to what is *asked* of the model (golden-set source,
  sampling, task, repeats, field mapping, prompt variables) needs new inference; a change to
  how answers are *scored* (checks, rubric, thresholds) only needs a re-score from the
  response store.
* ``golden/*``: golden sets. New or edited records need new inference (the response store
  still serves every answer it already has).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eval_pipeline.project.hashing import sha256_file, sha256_obj
from eval_pipeline.project.loader import Project
from eval_pipeline.project.registry import ModelVersion
from eval_pipeline.project.suites import Suite

WATCHED_PATTERNS = ("models.yaml", "prompts/*", "suites/*.yaml", "suites/*.yml", "golden/*")

# Eval-set fields that decide which requests are sent to the model; everything else in a
# suite (checks, similarity, judge, thresholds, descriptions) only affects scoring.
INFERENCE_FIELDS = (
    "name",
    "task",
    "source",
    "format",
    "fields",
    "require_expected",
    "sample",
    "repeats",
    "max_record_bytes",
    "prompt_vars",
)


def watched_files(base: Path) -> list[Path]:
    """The files the config-change sensor hashes, sorted (hidden files and folders ignored)."""
    base = Path(base)
    found: set[Path] = set()
    for pattern in WATCHED_PATTERNS:
        for p in base.glob(pattern):
            if p.is_file() and not p.name.startswith("."):
                found.add(p)
    return sorted(found)


def content_hashes(base: Path) -> dict[str, str]:
    """``{relative posix path: sha256 of the bytes}`` for every watched file under ``base``."""
    base = Path(base)
    return {p.relative_to(base).as_posix(): sha256_file(p) for p in watched_files(base)}


def state_digest(hashes: dict[str, str]) -> str:
    """A short digest of a whole hash map (used in run keys: one run per distinct state)."""
    return sha256_obj(hashes)[:10]


@dataclass
class FileChanges:
    """Files added, removed or changed between two hash maps (relative paths)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def touched(self) -> list[str]:
        """Added or changed files (removed ones cannot trigger work on their own)."""
        return sorted(self.added + self.changed)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        parts = [
            f"{name}: {', '.join(files)}"
            for name, files in (("added", self.added), ("changed", self.changed), ("removed", self.removed))
            if files
        ]
        return "; ".join(parts) or "no file changed"


def diff_hashes(old: dict[str, str], new: dict[str, str]) -> FileChanges:
    """Compare two ``content_hashes`` maps."""
    return FileChanges(
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        changed=sorted(k for k in set(old) & set(new) if old[k] != new[k]),
    )


def model_version_keys(project: Project, nightly_only: bool = False) -> dict[str, str]:
    """``{registry name: partition key}`` of the current registry (optionally only ``nightly: true``)."""
    return {m.name: m.key for m in project.registry.models if m.nightly or not nightly_only}


def nightly_keys(project: Project) -> list[str]:
    """Partition keys of the model versions marked ``nightly: true``, in registry order."""
    return list(model_version_keys(project, nightly_only=True).values())


def suite_inference_hash(suite: Suite) -> str:
    """Hash of the parts of a suite that decide which requests reach the model."""
    return sha256_obj([es.model_dump(include=set(INFERENCE_FIELDS), mode="json") for es in suite.eval_sets])[
        :12
    ]


def suite_inference_hashes(project: Project) -> dict[str, str]:
    """``{suite name: suite_inference_hash}`` for every suite of the project."""
    return {name: suite_inference_hash(s) for name, s in project.suites.items()}


def versions_using_suite(project: Project, suite_name: str) -> list[ModelVersion]:
    """Current registry versions that are evaluated on ``suite_name``."""
    return [m for m in project.registry.models if suite_name in m.suites]


def suites_reading(project: Project, rel_path: str) -> list[str]:
    """Names of the suites with an eval set whose golden set is ``rel_path`` (relative to the data folder)."""
    target = (project.base / rel_path).resolve()
    return sorted(
        name for name, s in project.suites.items() if any(es.source_path == target for es in s.eval_sets)
    )


def _suite_by_file(project: Project, rel_path: str) -> Suite | None:
    target = (project.base / rel_path).resolve()
    return next((s for s in project.suites.values() if s.file == target), None)


@dataclass
class ChangePlan:
    """What to do after the data folder changed.

    ``new_keys``: registry keys not yet registered as ``model_version`` partitions (register them
    and evaluate them). ``rerun``: key -> reasons, needs new inference (golden set or the
    inference part of a suite changed). ``rescore``: key -> reasons, scoring-only change
    (re-score from the response store, no model calls).
    """

    files: FileChanges
    new_keys: list[str] = field(default_factory=list)
    rerun: dict[str, list[str]] = field(default_factory=dict)
    rescore: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.new_keys or self.rerun or self.rescore)


def plan_changes(
    project: Project,
    old_hashes: dict[str, str],
    new_hashes: dict[str, str],
    old_suite_inputs: dict[str, str],
    registered_keys: set[str] | list[str],
) -> ChangePlan:
    """Decide which model versions to register, re-run and re-score.

    ``old_hashes`` / ``old_suite_inputs`` are the last good state (from the sensor cursor),
    ``new_hashes`` the current ``content_hashes``; ``registered_keys`` the partition keys
    the Dagster instance already knows. A version with a new key is evaluated in full, so it
    never also appears under ``rerun`` or ``rescore``; a version needing new inference is not
    also re-scored.
    """
    registered = set(registered_keys)
    files = diff_hashes(old_hashes, new_hashes)
    plan = ChangePlan(
        files=files, new_keys=[k for k in model_version_keys(project).values() if k not in registered]
    )
    new_inputs = suite_inference_hashes(project)

    def add(bucket: dict[str, list[str]], suite_name: str, reason: str) -> None:
        for m in versions_using_suite(project, suite_name):
            if m.key not in plan.new_keys:
                bucket.setdefault(m.key, []).append(reason)

    for rel in files.touched:
        if rel.startswith("suites/"):
            suite = _suite_by_file(project, rel)
            if suite is None:
                continue
            if old_suite_inputs.get(suite.name) != new_inputs[suite.name]:
                add(plan.rerun, suite.name, f"{rel}: what is asked of the model changed")
            else:
                add(plan.rescore, suite.name, f"{rel}: scoring settings changed")
        elif rel.startswith("golden/"):
            for suite_name in suites_reading(project, rel):
                add(plan.rerun, suite_name, f"{rel}: golden set changed")
    for key in list(plan.rescore):
        if key in plan.rerun:
            del plan.rescore[key]
    return plan
