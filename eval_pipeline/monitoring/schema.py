"""Schema of production interaction logs and of the stored (sampled, redacted) traffic sample.

Input: production traffic logs
------------------------------
One JSON object per line (``*.jsonl``) or one row per interaction (``*.parquet``), under a prefix::

    <prefix>/date=YYYY-MM-DD/<any name>.jsonl|.parquet     (day-partitioned layout, preferred)
    <prefix>/<any name>.jsonl|.parquet                     (flat layout: rows are filtered by timestamp)

Fields of one interaction (``TrafficRecord``):

=================  ==========  =========================================================================
field              type        meaning
=================  ==========  =========================================================================
request_id         str         unique id of the request (non-empty); sampling hashes it
timestamp          str         ISO 8601 with an explicit UTC offset, e.g. ``2025-06-01T12:00:00Z``
model_version      str         deployed model version key (e.g. ``claude-haiku-4-5@2025-05``)
prompt_template    str         id/version of the prompt template that built the request
input              str         user input text (may contain PII: redacted before storage)
output             str         model output text (may contain PII: redacted before storage)
latency_s          float>=0    end-to-end latency in seconds
ttft_s             float>=0    time to first token in seconds (null if not streamed)
input_tokens       int>=0
output_tokens      int>=0
session_id         str         user session id (stored only as a hash)
category           str|null    optional product segment / intent domain
model_snapshot_id  str|null    exact model snapshot for replay (defaults to model_version)
config_hash        str|null    hash of the serving config (system prompt, params) for replay
feedback           list        feedback events ``{"type": <type>, "timestamp": <ISO 8601>}``, where
                               ``type`` is one of thumbs_up, thumbs_down, regenerate, copy, task_completed
metadata           dict|null   free-form; the synthetic generator sets ``{"synthetic": true}``
synthetic          bool        true for generated traffic (never for real users); default false
=================  ==========  =========================================================================

Unknown extra keys are ignored (logging pipelines add fields over time).

Output: the stored traffic sample (``SAMPLE_COLUMNS``)
------------------------------------------------------
Only what is safe to keep: hashes of the raw input and session, redacted input and output text,
numbers, and the replay keys (model snapshot id and config hash). Raw text never leaves memory.
Feedback events are reduced to one boolean per event type (``fb_<type>``: did the request receive
at least one event of that type).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FEEDBACK_TYPES = ("thumbs_up", "thumbs_down", "regenerate", "copy", "task_completed")
FeedbackType = Literal["thumbs_up", "thumbs_down", "regenerate", "copy", "task_completed"]

# The request's identity and the model version / replay keys it ran under: the first columns of
# both frames below, in this order.
KEY_COLUMNS = [
    "request_id",
    "timestamp",
    "date",
    "model_version",
    "model_snapshot_id",
    "config_hash",
    "prompt_template",
]
USAGE_COLUMNS = ["latency_s", "ttft_s", "input_tokens", "output_tokens"]
# The fields of one log record, apart from request_id, timestamp and feedback (``date`` is derived).
RECORD_FIELDS = [*KEY_COLUMNS[3:], "input", "output", *USAGE_COLUMNS, "session_id", "category"]
FEEDBACK_COLUMNS = [f"fb_{t}" for t in FEEDBACK_TYPES]

# Columns of the DataFrame returned by the traffic reader (raw text still present, in memory only).
TRAFFIC_COLUMNS = [
    *KEY_COLUMNS[:3],
    *RECORD_FIELDS,
    "synthetic",
    *FEEDBACK_COLUMNS,
    "n_feedback_events",
    "source_file",
    "source_line",
]

# Columns of the stored sample (after sampling + redaction). No raw text, no raw session id.
SAMPLE_COLUMNS = [
    *KEY_COLUMNS,
    "input_hash",
    "input_redacted",
    "output_redacted",
    "input_chars",
    "output_chars",
    *USAGE_COLUMNS,
    "session_hash",
    "category",
    "synthetic",
    *FEEDBACK_COLUMNS,
    "n_feedback_events",
    "pii_redactions",
]


class FeedbackEvent(BaseModel):
    """One user feedback event attached to an interaction."""

    model_config = ConfigDict(extra="ignore")
    type: FeedbackType
    timestamp: datetime | None = None


class TrafficRecord(BaseModel):
    """One logged production interaction (see the module docstring for field meanings)."""

    model_config = ConfigDict(extra="ignore")

    request_id: str = Field(min_length=1)
    timestamp: datetime
    model_version: str = Field(min_length=1)
    prompt_template: str
    input: str
    output: str
    latency_s: float = Field(ge=0)
    ttft_s: float | None = Field(default=None, ge=0)
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    session_id: str
    category: str | None = None
    model_snapshot_id: str | None = None
    config_hash: str | None = None
    feedback: list[FeedbackEvent] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    synthetic: bool = False

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("timestamp needs an explicit UTC offset, e.g. 2025-06-01T12:00:00Z")
        return v.astimezone(UTC)

    def to_row(self) -> dict[str, Any]:
        """Flatten to one reader row (feedback reduced to per-type booleans)."""
        kinds = {e.type for e in self.feedback}
        row: dict[str, Any] = {
            "request_id": self.request_id,
            "timestamp": self.timestamp,
            "date": self.timestamp.date().isoformat(),
            "model_version": self.model_version,
            "model_snapshot_id": self.model_snapshot_id or self.model_version,
            "config_hash": self.config_hash,
            "prompt_template": self.prompt_template,
            "input": self.input,
            "output": self.output,
            "latency_s": self.latency_s,
            "ttft_s": self.ttft_s,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "session_id": self.session_id,
            "category": self.category,
            "synthetic": bool(self.synthetic or (self.metadata or {}).get("synthetic", False)),
        }
        for t in FEEDBACK_TYPES:
            row[f"fb_{t}"] = t in kinds
        row["n_feedback_events"] = len(self.feedback)
        return row
