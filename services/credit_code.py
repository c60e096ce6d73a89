"""Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters with a check character."""

from __future__ import annotations

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(first17: str) -> str:
    total = sum(CHARSET.index(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def is_valid(code: str) -> bool:
    code = code.strip().upper()
    if len(code) != 18 or any(ch not in CHARSET for ch in code):
        return False
    return check_character(code[:17]) == code[17]
