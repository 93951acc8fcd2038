"""Did the image that came back have the shape and resolution that was asked for?

The aspect ratio must match within 2 % (or within one 16-pixel rounding step of a side,
as servers round sides to multiples of 16), and the pixel count must be nearest to the
requested tier (0.5K ≈ 512², 1K ≈ 1024², 2K ≈ 2048², 4K ≈ 4096²).
"""

from __future__ import annotations

import math

from ._request import SIZES

TIER_SIDES = {"0.5K": 512, "1K": 1024, "2K": 2048, "4K": 4096}
RATIO_TOLERANCE = 0.02
ROUNDING = 16


def _ratio_name(width: int, height: int) -> str:
    """The aspect ratio an image has: a known ratio it matches, else e.g. '1.46:1'."""
    for name in SIZES:
        if ratio_matches(name, width, height):
            return name
    return f"{width / height:.2f}:1"


def nearest_tier(width: int, height: int) -> str:
    side = math.sqrt(width * height)
    return min(TIER_SIDES, key=lambda tier: abs(math.log(side / TIER_SIDES[tier])))


def ratio_matches(size: str, width: int, height: int) -> bool:
    try:
        ratio_w, ratio_h = (int(part) for part in size.split(":"))
    except ValueError:
        return True  # not a ratio we know how to check
    if abs((width / height) / (ratio_w / ratio_h) - 1) <= RATIO_TOLERANCE:
        return True
    return (
        abs(width - height * ratio_w / ratio_h) <= ROUNDING
        or abs(height - width * ratio_h / ratio_w) <= ROUNDING
    )


def size_problem(size: str, resolution: str, width: int, height: int) -> str | None:
    """None when the image fits the request (or its size is unknown), else a short phrase
    such as 'asked 16:9, got 1:1 (1024×1024)'."""
    if not width or not height:
        return None
    problems = []
    if not ratio_matches(size, width, height):
        problems.append(f"asked {size}, got {_ratio_name(width, height)}")
    if resolution in TIER_SIDES and nearest_tier(width, height) != resolution:
        problems.append(f"asked {resolution}, got {nearest_tier(width, height)}")
    if not problems:
        return None
    return "; ".join(problems) + f" ({width}×{height})"
