"""A labelled PII test set generated with Faker: bank support messages carrying one PII value each.

In: a seed and a size. Out: :func:`generate` -> list of :class:`PiiMessage` (``text``, ``kind``,
``value``, ``start``, ``end``, ``locale``); ``text[start:end] == value`` always. Values come from
Faker in four locales (en_US, en_GB, de_DE, fr_FR), placed in many English sentence templates
(users write to the bank in English; names, addresses, phone formats and IBANs are local).
Phone numbers keep Faker's extensions (``535.915.7917x34897``); half the names are Faker's full
names with titles and degrees (``Prof. Jörgen Ehlert B.Eng.``); a quarter of the addresses are street
and town only; half the date-of-birth templates have no birth cue (``Please update my details: ...``).
:func:`clean_messages` are the PII-free support messages of the shared intent datasets
(banking77, clinc150), for over-redaction. :func:`value_caught` decides whether a detection covers a
value (the benchmark's recall and the leak test use it).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR")
STRUCTURED_KINDS = ("email", "phone", "card", "iban", "ssn", "ip")
FREE_KINDS = ("person", "address", "date_of_birth")
OTHER_KINDS = ("account_number", "passport")
KINDS = STRUCTURED_KINDS + FREE_KINDS + OTHER_KINDS

TEMPLATES: dict[str, list[str]] = {
    "email": [
        "Please send the statement to {v} instead.",
        "My email is {v}, can you confirm the transfer?",
        "You can reach me at {v}.",
        "{v} is my new email address, please update it.",
        "I never received the code at {v}",
        "update my contact email to {v} please",
    ],
    "phone": [
        "Call me back on {v} please.",
        "My phone number is {v}.",
        "I changed my number to {v}, update it",
        "you can text me at {v} after 5pm",
        "Is {v} the right number for the fraud team?",
        "reach me on {v} about the blocked payment",
    ],
    "card": [
        "My card {v} was declined at the shop.",
        "Please block card number {v} now!",
        "I see a charge I don't recognise on {v}",
        "card {v} got stuck in the ATM",
        "the payment with {v} failed twice",
        "can you check why {v} is not working",
    ],
    "iban": [
        "Please send the refund to {v}.",
        "My IBAN is {v}",
        "I want to add {v} as a payee",
        "the transfer to {v} has not arrived",
        "is {v} the correct account for my salary?",
        "change my direct debit account to {v}",
    ],
    "ssn": [
        "My SSN is {v}.",
        "for the tax form, my social security number is {v}",
        "I typed {v} in the application, is that right?",
        "verify me with {v}",
        "my ssn {v} was rejected by the form",
    ],
    "ip": [
        "I was logged in from {v} but that was not me.",
        "The login came from {v} according to the email",
        "my router address is {v} and the app blocks it",
        "why was {v} blocked from online banking?",
        "there is a session from {v} I do not know",
    ],
    "person": [
        "Hi, my name is {v} and I lost my card.",
        "This is {v}, I need help with a transfer.",
        "The account holder is {v}.",
        "Kind regards, {v}",
        "Please add {v} as a joint account holder",
        "I want to send money to {v} but the app fails",
        "{v} here, my card was stolen yesterday",
        "my husband {v} cannot log in",
        "the payee {v} says nothing arrived",
        "Thanks, {v}",
        "can {v} use my card while I am away?",
    ],
    "address": [
        "Please send the new card to {v}.",
        "I moved to {v}, please update my address.",
        "My address is {v}",
        "the letter went to {v} but I don't live there anymore",
        "deliver the replacement card to {v} please",
        "my new home address: {v}",
    ],
    "date_of_birth": [
        "My date of birth is {v}.",
        "I was born on {v}",
        "DOB: {v}",
        "my birthday is {v}, is that on file?",
        "date of birth {v}, name as on the card",
        "born {v}, I can't pass the ID check",
        # no birth cue nearby (issue 24): the date alone has to be recognised as a possible birth date
        "Please update my details: {v}.",
        "the ID check says {v} but that is wrong",
        "{v} is what I typed in the verification form",
        "I entered {v} and the app rejects it",
        "can you confirm you have {v} on file?",
        "my details are {v}, the app keeps asking",
    ],
    "account_number": [
        "My account number is {v}.",
        "please check account {v}",
        "account no. {v} shows a wrong balance",
        "transfer from acct {v} failed",
        "sort code {v}, can you verify it?",
    ],
    "passport": [
        "My passport number is {v}.",
        "I uploaded passport {v} for verification",
        "passport no. {v} expired, can I use a new one?",
        "the passport number {v} was rejected",
    ],
}

_DOB_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d", "%d %B %Y", "%B %d, %Y")


@dataclass(frozen=True)
class PiiMessage:
    text: str
    kind: str
    value: str
    start: int
    end: int
    locale: str


def _fakers(seed: int):
    from faker import Faker

    fakers = {}
    for i, loc in enumerate(LOCALES):
        f = Faker(loc)
        f.seed_instance(seed * 100 + i)
        fakers[loc] = f
    return fakers


def _group(s: str, n: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return s
    return " ".join(s[i : i + n] for i in range(0, len(s), n))


def _value(kind: str, f, loc: str, rng: random.Random) -> str:
    if kind == "email":
        return f.email() if rng.random() < 0.5 else f.free_email()
    if kind == "phone":
        return f.phone_number()  # with Faker's extensions ("535.915.7917x34897", "(841)435-0408x445")
    if kind == "card":
        return _group(f.credit_card_number(), 4, rng)
    if kind == "iban":
        return _group(f.iban(), 4, rng)
    if kind == "ssn":
        from faker import Faker

        us = Faker("en_US")
        us.seed_instance(rng.randrange(1 << 30))
        return us.ssn()
    if kind == "ip":
        return f.ipv4_public() if rng.random() < 0.7 else f.ipv6()
    if kind == "person":
        # half Faker's full names: titles and degrees ("Prof. Jörgen Ehlert B.Eng.", "Dr Aimee Jackson"),
        # double-barrelled and accented names ("Thérèse Gay", "Anouk-Agathe Lelièvre")
        return f.name() if rng.random() < 0.5 else f"{f.first_name()} {f.last_name()}"
    if kind == "address":
        street = f.street_address().replace("\n", ", ")
        if rng.random() < 0.25:  # street and town only, no postcode ("[ADDRESS], Hallland" slipped)
            return f"{street}, {f.city()}"
        if loc == "en_US":
            return f"{street}, {f.city()}, {f.state_abbr()} {f.zipcode()}"
        if loc == "en_GB":
            return f"{street}, {f.city()}, {f.postcode()}"
        return f"{street}, {f.postcode()} {f.city()}"
    if kind == "date_of_birth":
        return f.date_of_birth(minimum_age=18, maximum_age=90).strftime(rng.choice(_DOB_FORMATS))
    if kind == "account_number":
        return (
            str(rng.randrange(10**7, 10**10))
            if rng.random() < 0.7
            else f"{rng.randrange(10, 99)}-{rng.randrange(10, 99)}-{rng.randrange(10, 99)}"
        )
    if kind == "passport":
        from faker import Faker

        us = Faker("en_US")
        us.seed_instance(rng.randrange(1 << 30))
        return us.passport_number()
    raise ValueError(kind)


def generate(n_per_kind: int = 200, seed: int = 17, kinds: tuple[str, ...] = KINDS) -> list[PiiMessage]:
    """``n_per_kind`` messages per kind, locales and templates drawn by ``seed`` (deterministic)."""
    rng = random.Random(seed)
    fakers = _fakers(seed)
    out = []
    for kind in kinds:
        for i in range(n_per_kind):
            loc = LOCALES[i % len(LOCALES)]
            value = _value(kind, fakers[loc], loc, rng)
            tpl = rng.choice(TEMPLATES[kind])
            start = tpl.index("{v}")
            text = tpl.replace("{v}", value)
            out.append(PiiMessage(text, kind, value, start, start + len(value), loc))
    return out


def clean_messages(limit: int | None = None) -> list[str]:
    """PII-free support messages: the inputs of the shared banking77 and clinc150 intent datasets
    (``../shared/datasets``), falling back to the copies under ``data/``."""
    root = Path(__file__).resolve().parents[2]
    cands = [
        root.parent / "shared" / "datasets" / "banking77_intent.jsonl",
        root.parent / "shared" / "datasets" / "clinc150_intent.jsonl",
        root / "data" / "golden" / "banking77_intent.jsonl",
        root / "data" / "synthetic" / "clinc150_intent.jsonl",
    ]
    texts: list[str] = []
    seen_names: set[str] = set()
    for p in cands:
        if p.exists() and p.name not in seen_names:
            seen_names.add(p.name)
            texts += [
                json.loads(line)["input"]
                for line in p.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
    return texts[:limit] if limit else texts


_TOKEN = re.compile(r"[^\s,;:]+")


def identifying_chars(m: PiiMessage) -> list[int]:
    """Positions (in ``m.text``) that must be redacted for ``m`` to count as caught: every
    alphanumeric character of a structured value; for names, addresses and dates the alphanumeric
    characters of the tokens that carry information (containing a digit or capitalised), so a
    lower-case ``rue`` or ``de`` may stay."""
    pos = []
    for t in _TOKEN.finditer(m.value):
        tok = t.group(0)
        if m.kind in FREE_KINDS and not (any(c.isdigit() for c in tok) or tok[0].isupper()):
            continue
        pos += [m.start + t.start() + k for k, c in enumerate(tok) if c.isalnum()]
    return pos


def value_caught(m: PiiMessage, spans: list) -> bool:
    """True when the detected spans (objects with ``start``/``end``) cover every identifying character."""
    covered = set()
    for s in spans:
        covered.update(range(s.start, s.end))
    return all(p in covered for p in identifying_chars(m))
