"""Write Gemini's format as a JSON Schema (codetune.dataset.gemini_format) to schemas/:
`python -m codetune.local.gemini_schema` after a change to the format's description."""

from __future__ import annotations

from pathlib import Path

from codetune.dataset import gemini_format

PATH = Path(__file__).resolve().parent / "schemas" / "gemini-tuning-example.schema.json"


def main() -> int:
    PATH.write_text(gemini_format.schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
