"""Keyset pagination as the SDK drives it: `after` + `amount` in, `pagination` out."""

from __future__ import annotations

from typing import Any

from domain.shared.errors import Invalid

DEFAULT_AMOUNT = 100
MAX_AMOUNT = 1000


class _Page:
    def size(
        self, amount: int | None, *, default: int = DEFAULT_AMOUNT, maximum: int = MAX_AMOUNT
    ) -> int:
        if amount is None:
            return default
        if amount < 1:
            raise Invalid("amount must be at least 1")
        return min(amount, maximum)

    def of(
        self, rows: list[dict[str, Any]], size: int, *, key: str, maximum: int = MAX_AMOUNT
    ) -> dict[str, Any]:
        """`{"results", "pagination"}` from `size + 1` fetched rows (the extra one means more)."""
        has_more = len(rows) > size
        results = rows[:size]
        # The spec types `next_offset` as a string: "" (never null) when there is no next page.
        next_offset = str(results[-1][key]) if has_more and results else ""
        return {
            "results": results,
            "pagination": {
                "has_more": has_more,
                "next_offset": next_offset,
                "max_per_page": maximum,
            },
        }


page = _Page()
