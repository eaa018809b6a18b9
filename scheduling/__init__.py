"""Sessions' calendar, conflicts, the readiness deadline and checks, reminders, duties.

Uses `sessions`; never `web`. `web/api/schedule.py` is its HTTP face.
"""
