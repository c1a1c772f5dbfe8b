"""The EU member states as VAT sees them: one list for reading tax ids and deciding treatments.

ISO 3166-1 alpha-2. Special fiscal territories that share a member state's code (Canary
Islands, Ceuta, Melilla, Mount Athos, Livigno, Heligoland, Büsingen, ...) are out of scope:
they are treated as that member state. Territories with their own code count as non-EU.
"""

from __future__ import annotations

POLAND = "PL"

EU_MEMBER_STATES: frozenset[str] = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
        *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
    }
)
