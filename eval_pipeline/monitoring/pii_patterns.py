"""The project's own PII patterns: only the entities no maintained recognizer covers.

In: nothing (compiled ``re`` patterns and RE2 pre-filter strings). Out: dates of birth after a
birth context word, account numbers / sort codes, passport numbers, names after an introduction
(``my name is``, ``this is``, ``regards,``), street addresses of en/de/fr/nl/es/it, the words that
are never names (:data:`NOT_NAMES`), and :func:`trim_degrees`. Used by :mod:`.pii_recognizers`
(which builds the recognizers) and :mod:`.pii_extend` (which grows spans).
"""

from __future__ import annotations

import re

_NUM = r"(?:number|no\.?|num\.?|nr\.?|#)"
_DATE = (
    r"\d{1,2}[./\-]\d{1,2}[./\-](?:19|20)\d{2}|(?:19|20)\d{2}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?[A-Z][a-zé]{2,8}\.?,?\s+(?:19|20)\d{2}"
    r"|[A-Z][a-z]{2,8}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{2}"
)
DOB_RX = re.compile(
    r"(?i:\b(?:born|date\s+of\s+birth|birth\s*date|birthdate|birthday|d\.?o\.?b\.?|geboren|n[ée]e?\s+le)\b)"
    rf"[^\w\n]{{0,3}}(?:(?i:is|was|on|am|:|the)\W{{0,3}}){{0,3}}(?P<v>{_DATE})"
)
ACCOUNT_RX = re.compile(
    rf"(?i:\b(?:account|acct|a/c|konto(?:nummer)?|compte|sort\s+code)\b(?:\s+{_NUM})?)"
    r"(?:\s*(?i:is|:|-|=))?\s*(?P<v>\d[\d \-]{4,20}\d)\b"
)
PASSPORT_RX = re.compile(
    rf"(?i:\b(?:passport|reisepass|passeport|pasaporte|passaporto)\b(?:\s+{_NUM})?)"
    r"(?:\s*(?i:is|:|-|=))?\s*(?P<v>(?=[A-Z0-9]*\d)[A-Z0-9]{6,10})\b"
)
# Phone numbers in the shape users type that libphonenumber rejects as unassigned (e.g. US area code
# 293) or with a trunk "(0)" after the country code: NANP shapes and "+<cc>" + 2-5 digit groups.
PHONE_SHAPE_RX = re.compile(
    r"(?P<v>\+\d{1,3}[ .\-]?(?:\(0\))?\(?\d{1,4}\)?(?:[ .\-]?\d{2,4}){2,4}(?:\b|(?=[xX]\d))"
    r"|(?:\b(?:1|001)[ .\-])?(?:\(\b[2-9]\d{2}\)|\b[2-9]\d{2})[ .\-]?\d{3}[ .\-]\d{4}(?:\b|(?=[xX]\d))"
    r"|\(0\d{2,5}\)\s?\d{2,9}(?:[ .\-]\d{2,5}){0,2}(?:\b|(?=[xX]\d))"
    # national format with a trunk 0 ("0466 12018"), bare 10-digit NANP numbers ("7295868430"); not
    # inside a longer run of digit groups (card-like references stay)
    r"|(?<!\d[ \-])(?<![\d\-])(?:0\d{2,5}[ /\-]?\d{4,8}|[2-9]\d{2}[2-9]\d{6})(?![ \-]?\d))"
)
PHONE_PREFILTER = r"\d(?:[ \t().\-/]{0,3}\d){6,}"  # seven digits or more, in groups
PHONE_RUN = re.compile(PHONE_PREFILTER)
_CAP = r"[A-ZÀ-ÖØ-Þ][\w'’\-]*"
PARTICLE = r"(?:van|von|de|der|den|du|le|la|di|da|del|dos|ten|ter|zu)"
NAME_CONTEXT_RX = re.compile(
    r"(?i:\b(?:my\s+name\s+is|name\s+is|name:|this\s+is|i\s+am|i'm|signed|regards,?|thanks,?|cheers,?|"
    r"mr\.?|mrs\.?|ms\.?|miss|dr\.?|sincerely,?|account\s+holder:?|holder\s+is|recipient\s+is|beneficiary:?|"
    r"payee|my\s+(?:husband|wife|partner|son|daughter|mother|father|mum|mom|dad|friend|"
    r"brother|sister|landlord|colleague)|called|named|mister))\s+"
    rf"(?P<v>{_CAP}(?:\s+(?:{PARTICLE}\s+){{0,2}}{_CAP}){{0,3}})"
)
# "<Name> <Surname> here": a sign-off at the start
NAME_HERE_RX = re.compile(rf"^\W*(?P<v>{_CAP}(?:\s+(?:{PARTICLE}\s+){{0,2}}{_CAP}){{1,3}})\s+here\b")
# two or more capitalised words inside a sentence ("... to Josephine Holt but ...")
NAME_PAIR_RX = re.compile(rf"(?<=[\w,]\s)(?P<v>{_CAP}(?:\s+(?:{PARTICLE}\s+){{0,2}}{_CAP}){{1,3}})")
NOT_NAMES = {
    "I",
    "The",
    "My",
    "A",
    "An",
    "It",
    "There",
    "Here",
    "Not",
    "Very",
    "So",
    "Just",
    "Still",
    "Also",
    "Trying",
    "Having",
    "Looking",
    "Unable",
    "In",
    "On",
    "At",
    "From",
    "Calling",
    "Writing",
    "You",
    "Your",
    "Please",
    "Thanks",
    "Thank",
    "Hi",
    "Hello",
    "Dear",
    "Can",
    "Could",
    "Why",
    "What",
    "How",
    "When",
    "Where",
    "Is",
    "Are",
    "Do",
    "Does",
    "Did",
    "Will",
    "Would",
    "Should",
    "ATM",
    "PIN",
    "OK",
    "App",
    "Card",
    "Bank",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
}

_STREET_WORDS = (
    r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|court|ct|boulevard|blvd|way|place|pl|square|sq|terrace|"
    r"crescent|close|grove|gardens|park|parkway|row|walk|hill|mews|circle|trail|highway|hwy|route|"
    r"stra(?:ß|ss)e|str\.?|weg|gasse|platz|allee|ring|damm|ufer|chaussee|"
    r"straat|laan|plein|gracht|singel|kade|dijk|"
    r"rue|avenue|boulevard|bd|chemin|all[ée]e|impasse|quai|cours|rond-point|"
    r"calle|avenida|paseo|plaza|carrer|via|viale|piazza|corso|vicolo|largo"
)
_CAPW = r"[A-ZÀ-ÖØ-Þ][\w'’\-]+"  # a capitalised word of two letters or more ("I" is not a street)
_SW = rf"(?i:{_STREET_WORDS})\b"
_DE_COMPOUND = r"[\w\-]+(?:stra(?:ß|ss)e|str\.|weg|gasse|platz|allee|ring|damm|ufer)"
ADDRESS_RXS = [
    # number first: "77763 Tony Village Suite 690", "8, avenue Manon Gillet", "221B Baker Street"
    re.compile(
        rf"\b(?P<v>\d{{1,5}}[A-Za-z]?,?\s+(?:(?:{_CAPW}|{_SW}|{PARTICLE}|d'|l')\.?\s+){{0,5}}"
        rf"(?:{_CAPW}|{_SW})"
        r"(?:,?\s+(?i:apt\.?|apartment|suite|unit|flat|#)\s*\w+)?)"
    ),
    # street word first / German compounds: "Agnes-Wesack-Straße 26-83", "Hauptstr. 5/1", "Calle Mayor 3"
    re.compile(
        rf"(?P<v>\b(?:(?:{_CAPW}[\s\-])*{_SW}|{_DE_COMPOUND})\.?(?:\s+{_CAPW}|\s+{PARTICLE}){{0,4}}"
        r"\s+\d{1,5}[a-zA-Z]?(?:\s*[-/]\s*\d{1,5}[a-zA-Z]?)?)\b"
    ),
    # "Flat 7, ..." / "Apt. 5" / "Studio 3"
    re.compile(r"\b(?P<v>(?i:flat|apartment|apt\.?|suite|unit|studio)\s+\d+[A-Za-z]?)\b"),
    # postcode + town: "66907 Werdau", "75001 Paris", "1012 AB Amsterdam"
    re.compile(
        rf"\b(?P<v>\d{{4,5}}(?:\s?[A-Z]{{2}})?\s+(?:{_CAPW}|{PARTICLE})(?:[\s\-](?:{_CAPW}|{PARTICLE}|sur|en|am|an|bei)){{0,4}})"
    ),
    # US town, state zip: "Port Judy, NV 12345"
    re.compile(rf"(?P<v>(?:{_CAPW}\s+){{0,3}}{_CAPW},?\s+[A-Z]{{2}}\s+\d{{5}}(?:-\d{{4}})?)\b"),
    # UK postcode: "S6 7LJ", "SW1A 1AA"
    re.compile(r"\b(?P<v>[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})\b"),
]
# a street without a number ("rue de Pasquier"): an address piece only next to another one
ADDRESS_PART_RX = re.compile(
    rf"\b(?P<v>(?i:rue|avenue|boulevard|chemin|all[ée]e|impasse|place|quai|route|calle|avenida|paseo|via|viale|piazza|corso)"
    rf"\s+(?:(?:{PARTICLE}|d'|l')\s*)*{_CAP}(?:\s+{_CAP}){{0,3}})"
)
ADDRESS_PREFILTER = r"\d.*\p{Lu}|\p{Lu}.*\d"  # a digit and a capital letter
# The street-word-first pattern (ADDRESS_RXS[1]) tries its leading word loop at every position: ~100 us
# per text in Python. It runs only on texts where this RE2 guard (vectorized) finds its tail, a street
# word followed by up to four words and a number; every ADDRESS_RXS[1] match contains one (the classes
# are supersets of Python's Unicode \w / \s / \d, the German compound suffixes are listed).
_NW = r"[^\p{L}\p{N}_]"
STREET_FIRST_PREFILTER = (
    rf"(?i:{_STREET_WORDS}|stra(?:ß|ss)e|str\.|weg|gasse|platz|allee|ring|damm|ufer)\.?"
    rf"(?:{_NW}+[A-ZÀ-ÖØ-Þ][\p{{L}}\p{{N}}_'’\-]+|{_NW}+{PARTICLE}){{0,4}}{_NW}+\p{{Nd}}"
)
PERSON_PREFILTER = (
    r"\p{Lu}[\p{Ll}'’\-]+\s+(?:\p{Ll}{1,3}\s+){0,2}\p{Lu}\p{Ll}"
    r"|(?i:name|this is|i am|i'm|signed|regards|thanks|cheers|mrs?|ms|miss|dr|sincerely|holder|"
    r"recipient|beneficiary|payee|husband|wife|partner|son|daughter|mother|father|mum|mom|dad|friend|"
    r"brother|sister|landlord|colleague|called|named|mister)\W+\p{Lu}"
)


def trim_degrees(text: str, start: int, end: int) -> int:
    """End of a name match without its trailing degrees / generation marks (``B`` of ``B.Sc.``,
    ``MBA``, ``II``: upper-case words that would void the name); the span growth of
    :mod:`.pii_extend` adds them back whole."""
    words = list(re.finditer(r"\S+", text[start:end]))
    while len(words) > 1 and (
        words[-1].group(0).isupper() or text[start + words[-1].end() : end + 1][:1] == "."
    ):
        words.pop()
    return start + words[-1].end() if words else end


# RE2 pre-filters: a text is searched by a recognizer only when its pre-filter matches.
IBAN_PREFILTER = r"(?i)\b[a-z]{2}\d{2}"
CARD_PREFILTER = r"\d(?:[ \-]?\d){11,18}"
SSN_PREFILTER = r"\d{3}[ .\-]?\d{2}[ .\-]?\d{4}"
IP_PREFILTER = r"\d\.\d+\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]*:"
PHONE_SHAPE_PREFILTER = r"\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4}|\+\d|\(0\d|\b0\d{2,5}[ /\-]?\d{4}|\b[2-9]\d{9}\b"
DOB_PREFILTER = r"(?i)(?:born|birth|d\.?o\.?b|geboren|n[ée]e? le)\D{0,30}\d"
ACCOUNT_PREFILTER = r"(?i)(?:account|acct|a/c|konto|compte|sort code)\D{0,20}\d"
PASSPORT_PREFILTER = r"(?i)(?:passport|reisepass|passeport|pasaporte|passaporto)\W.{0,20}\d"
# 12-19 digits passing Luhn: the Maestro / 19-digit card numbers Presidio's pattern does not span
CARD_RX = re.compile(r"(?<![\d\-])(?P<v>\d(?:[ \-]?\d){11,18})(?![\d\-])")
