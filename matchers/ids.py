"""Chinese resident ID numbers (GB 11643-1999)."""
from __future__ import annotations

ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"


def id_check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("expected 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS))
    return CHECK_CHARACTERS[total % 11]


def upgrade_15_to_18(id15: str) -> str:
    """Legacy 15-digit number (area + YYMMDD + sequence) to its 18-character form."""
    if len(id15) != 15 or not id15.isdigit():
        raise ValueError("expected 15 digits")
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + id_check_character(first17)
