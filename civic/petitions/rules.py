"""The signature threshold and the per-province spread for regional petitions.

Source: Organic Law 111-14 (regions), arts. ~119–122, as summarised in shared/domain.md §2; the default
brackets follow the Marrakech-Safi regional council's guide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from civic.settings import PetitionRules


@dataclass(frozen=True)
class RuleSet:
    """The rules a petition is held to; stored on the petition when it is published.

    threshold: signatures needed in all. province_minimum: signatures needed in each province.
    require_electoral_registration: whether signatories must declare they are on the electoral lists.
    collection_days: the collection period in days.
    """

    threshold: int
    province_minimum: int
    require_electoral_registration: bool
    collection_days: int


def threshold_for_population(population: int, rules: PetitionRules) -> int:
    """Signatures needed for a region of ``population`` inhabitants.

    Default brackets (shared/domain.md §2): fewer than 1,000,000 → 300; 1–3 million → 400; more → 500.
    """
    for upper_bound, signatures in rules.thresholds:
        if upper_bound is None or population < upper_bound:
            return signatures
    return rules.thresholds[-1][1]


def rule_set(region_population: int, rules: PetitionRules) -> RuleSet:
    """The rule set for a new petition in a region of ``region_population`` (RGPH 2024).

    province_minimum = ceil(threshold × province_share_percent / 100): 5% of 400 = 20 for Béni Mellal-Khénifra.
    """
    threshold = threshold_for_population(region_population, rules)
    return RuleSet(
        threshold=threshold,
        province_minimum=math.ceil(threshold * rules.province_share_percent / 100),
        require_electoral_registration=rules.require_electoral_registration,
        collection_days=rules.collection_days,
    )
