"""What a training token costs, per base model: Google's list prices, and the deployment's own.

Google bills supervised tuning per 1M training tokens (the dataset's tokens times the epochs).
The rows are list prices with the day they were read and where: a contract price differs, and
the deployment sets its own per model (`CODETUNE_TRAINING_PRICES=model=price,...`), or one for
every model (`CODETUNE_TRAINING_PRICE`). A model with no row and no deployment price has no
known cost, and a cost budget refuses it (rule `budget`) rather than guess.

Source [pricing]: Google's Vertex AI pricing page, "Tuning" (cloud.google.com/vertex-ai/
generative-ai/pricing, now under .../products/gemini-enterprise-agent-platform/pricing). The
page itself could not be opened where this was written; the prices are those of four
independent copies of it that agree, the newest checked 2026-09-27. gemini-3.5-flash-lite was
in none of them. The 2.x rows stay for the record: those models are retired (docs/gemini.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import msgspec


class ListPrice(msgspec.Struct, frozen=True):
    model: str
    usd_per_million: float  # USD per 1M training tokens
    read: date
    source: str


_READ = date(2026, 9, 27)
LIST_PRICES: tuple[ListPrice, ...] = (
    ListPrice("gemini-3.5-flash", 10.00, _READ, "pricing"),
    ListPrice("gemini-3.1-flash-lite", 3.00, _READ, "pricing"),
    ListPrice("gemini-2.5-pro", 25.00, _READ, "pricing"),
    ListPrice("gemini-2.5-flash", 5.00, _READ, "pricing"),
    ListPrice("gemini-2.5-flash-lite", 1.50, _READ, "pricing"),
)
BY_MODEL = {row.model: row for row in LIST_PRICES}


class Price(msgspec.Struct, frozen=True):
    """The price a cost is computed at, and what it is."""

    usd_per_million: float | None
    basis: str  # "list price, read 2026-09-27", "the deployment's price", "no known price"

    @property
    def known(self) -> bool:
        return self.usd_per_million is not None


def price_for(
    model: str | None, per_model: Mapping[str, float], every_model: float | None
) -> Price:
    """The deployment's price for the model, else its price for every model, else the list
    price, else none."""
    if model is not None and model in per_model:
        return Price(per_model[model], "the deployment's price")
    if every_model is not None:
        return Price(every_model, "the deployment's price")
    row = BY_MODEL.get(model or "")
    if row is None:
        return Price(None, "no known price")
    return Price(row.usd_per_million, f"list price, read {row.read}")


def markdown_table() -> str:
    """The documentation's price table (docs/parameters.md), from LIST_PRICES."""
    rows = ["| model | USD per 1M training tokens | read | source |", "|---|---|---|---|"]
    for row in LIST_PRICES:
        rows.append(f"| `{row.model}` | {row.usd_per_million:.2f} | {row.read} | {row.source} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m codetune.tuning.prices > the table for the docs
    print(markdown_table(), end="")
