"""How many representatives a group raising the same content chooses: a rule table.

Law on Citizen Reception 2013, art. 30 (and Decree 64/2014, art. 6): 5 to 10 people choose
1 or 2 representatives; more than 10, up to 5 (at least 1). The numbers are data: a later
text that changes them changes `REPRESENTATIVE_RULES`, not the code that applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RepresentativeRule:
    """For a group of `min_people` to `max_people` (None: no upper bound) people, between
    `min_reps` and `max_reps` representatives."""

    min_people: int
    max_people: int | None
    min_reps: int
    max_reps: int

    def applies(self, size: int) -> bool:
        return size >= self.min_people and (self.max_people is None or size <= self.max_people)


REPRESENTATIVE_RULES: tuple[RepresentativeRule, ...] = (
    RepresentativeRule(5, 10, 1, 2),
    RepresentativeRule(11, None, 1, 5),
)

# A group's size as a case may record it.
MAX_GROUP_SIZE = 100_000


def representatives_problem(
    group_size: int | None,
    representatives: int,
    rules: Sequence[RepresentativeRule] = REPRESENTATIVE_RULES,
) -> str | None:
    """Why `representatives` does not fit a group of `group_size`, in Vietnamese; None when
    it fits or no rule covers that size."""
    if group_size is None:
        return None
    for rule in rules:
        if rule.applies(group_size):
            if rule.min_reps <= representatives <= rule.max_reps:
                return None
            people = (
                f"từ {rule.min_people} đến {rule.max_people} người"
                if rule.max_people is not None
                else f"từ {rule.min_people} người trở lên"
            )
            return (
                f"nhóm {people} cử từ {rule.min_reps} đến {rule.max_reps} người đại diện "
                f"(hiện có {representatives})"
            )
    return None
