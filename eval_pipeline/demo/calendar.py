"""The demo's recorded week.

The demo replays synthetic recordings (``data/recordings/``), and the model versions sample anew
each day (``fresh_samples_daily``), so the recordings exist for these dates only: the production
version every day of the week (a trend with day-to-day noise), the candidate on the last two days.
"""

DEMO_DATES = (
    "2026-11-16",
    "2026-11-17",
    "2026-11-18",
    "2026-11-19",
    "2026-11-20",
    "2026-11-21",
    "2026-11-22",
)
CANDIDATE_DATES = DEMO_DATES[-2:]
