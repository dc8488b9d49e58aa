"""The shape of one line of Gemini supervised tuning data, written once.

Written from Google's "Prepare supervised fine-tuning data for Gemini models" (Dataset format:
systemInstruction, contents, tools; Content: role, parts; Part: a union of text or fileData) and
"Text tuning" (role is user or model). `EXAMPLE` describes Google's format; each field also says
what codetune makes of it (`Use`): codetune tunes text, so its format is Google's narrowed to
turns with a role and parts of non-blank text.

From this one description come:
- the JSON Schema of Google's format (`json_schema`), with which the Vertex AI stand-in judges
  the datasets it is sent (`local/schemas/gemini-tuning-example.schema.json` is its rendering,
  written by `python -m codetune.local.gemini_schema`; a test fails when they differ);
- codetune's format, as `faults`: what tune's conversion check (codetune.gemini.check) holds
  every converted line to;
- the names, fields and roles the validator's Gemini checker reads (codetune.dataset._gemini),
  held to `faults` by a test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import Enum
from typing import Any, TypeAlias

import msgspec


class Use(Enum):
    """What codetune makes of a field of Google's format."""

    TUNED = "tuned"  # read and checked; kept by the conversion
    KEPT = "kept"  # not checked (Google ignores it); kept by the conversion
    DROPPED = "dropped"  # not part of codetune's format: warned of, left out by the conversion
    REFUSED = "refused"  # codetune cannot tune on it: an error


class Text(msgspec.Struct, frozen=True):
    """A JSON string: one of `values` if there are any; a `tuned` text is never blank."""

    values: tuple[str, ...] = ()
    tuned: bool = False


class Anything(msgspec.Struct, frozen=True):
    """Any JSON value: a field whose contents codetune never reads."""


class Array(msgspec.Struct, frozen=True):
    items: Shape
    min_items: int = 0


class Field(msgspec.Struct, frozen=True):
    shape: Shape
    required: bool = False  # by Google's format
    use: Use = Use.TUNED
    required_by_codetune: bool | None = None  # None: as Google's format says
    description: str = ""

    @property
    def needed(self) -> bool:
        """Whether codetune's format requires it."""
        return self.required if self.required_by_codetune is None else self.required_by_codetune


class Object(msgspec.Struct, frozen=True):
    fields: dict[str, Field]
    name: str = ""  # its name among the schema's $defs; "" written in place
    noun: str = ""  # what codetune's faults call it
    use: Use = Use.TUNED  # as an option of a union

    def known(self) -> frozenset[str]:
        """The fields of codetune's format (any other is warned of as unknown)."""
        return frozenset(k for k, f in self.fields.items() if f.use in (Use.TUNED, Use.KEPT))


class OneOf(msgspec.Struct, frozen=True):
    """Google's union field: exactly one of the options' required fields."""

    options: tuple[Object, ...]
    name: str = ""
    description: str = ""


Shape: TypeAlias = "Text | Anything | Array | Object | OneOf"

# --- Google's format ------------------------------------------------------------------------
USER, MODEL = "user", "model"
ROLES = (USER, MODEL)
CONTENTS, SYSTEM_INSTRUCTION, TOOLS = "contents", "systemInstruction", "tools"
ROLE, PARTS, TEXT, FILE_DATA = "role", "parts", "text", "fileData"

TEXT_PART = Object(
    {TEXT: Field(Text(tuned=True), required=True)}, name="textPart", noun="text part"
)
FILE_DATA_PART = Object(
    {
        FILE_DATA: Field(
            Object(
                {
                    "mimeType": Field(Text(), required=True),
                    "fileUri": Field(Text(), required=True),
                }
            ),
            required=True,
        )
    },
    noun="fileData part",
    use=Use.REFUSED,  # codetune tunes text parts only
)
PART = OneOf(
    (TEXT_PART, FILE_DATA_PART),
    name="part",
    description="Union field data: exactly one of text or fileData.",
)
CONTENT = Object(
    {
        ROLE: Field(Text(values=ROLES), required_by_codetune=True),
        PARTS: Field(Array(PART, min_items=1), required=True),
    },
    name="content",
    noun="turn",
)
SYSTEM = Object(
    {
        ROLE: Field(Text(), use=Use.KEPT),
        PARTS: Field(Array(TEXT_PART, min_items=1), required=True),
    },
    noun="system instruction",
)
EXAMPLE = Object(
    {
        SYSTEM_INSTRUCTION: Field(
            SYSTEM,
            description="Optional Content; its role is ignored, its text counts toward the "
            "token limit.",
        ),
        CONTENTS: Field(
            Array(CONTENT, min_items=1),
            required=True,
            description="Required: the conversation, user and model turns.",
        ),
        TOOLS: Field(Array(Anything()), use=Use.DROPPED),
    },
    noun="example",
)
# The fields of codetune's format, as the validator warns of any other.
EXAMPLE_FIELDS = EXAMPLE.known()
CONTENT_FIELDS = CONTENT.known()
_TITLE = "One line of a Gemini supervised tuning dataset"
_ID = "https://codetune.local/schemas/gemini-tuning-example.schema.json"
_SOURCE = (
    "Written from Google's 'Prepare supervised fine-tuning data for Gemini models' (Dataset "
    "format: systemInstruction, contents, tools; Content: role, parts; Part: a union of text or "
    "fileData) and 'Text tuning' (role is user or model). Generated from "
    "codetune.dataset.gemini_format, the one description of the format: the Vertex AI stand-in "
    "judges converted datasets with it."
)


# --- The JSON Schema of Google's format ----------------------------------------------------
def json_schema() -> dict[str, Any]:
    """Google's format as a JSON Schema (draft 2020-12)."""
    defs: dict[str, Any] = {}
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _ID,
        "title": _TITLE,
        "description": _SOURCE,
        **_schema(EXAMPLE, defs),
    }
    return {**schema, "$defs": dict(sorted(defs.items()))}


def schema_text() -> str:
    """The schema file's text."""
    return json.dumps(json_schema(), indent=2) + "\n"


def _schema(shape: Shape, defs: dict[str, Any]) -> dict[str, Any]:
    name = shape.name if isinstance(shape, Object | OneOf) else ""
    if name and name not in defs:
        defs[name] = {}  # taken before its own parts are written
        defs[name] = _written(shape, defs)
    return {"$ref": f"#/$defs/{name}"} if name else _written(shape, defs)


def _written(shape: Shape, defs: dict[str, Any]) -> dict[str, Any]:
    if isinstance(shape, Text):
        return {"enum": list(shape.values)} if shape.values else {"type": "string"}
    if isinstance(shape, Anything):
        return {}
    if isinstance(shape, Array):
        items = _schema(shape.items, defs)
        return {
            "type": "array",
            **({"minItems": shape.min_items} if shape.min_items else {}),
            **({"items": items} if items else {}),
        }
    if isinstance(shape, OneOf):
        options = [_schema(option, defs) for option in shape.options]
        return {"description": shape.description, "oneOf": options}
    return {
        "type": "object",
        "required": [key for key, field in shape.fields.items() if field.required],
        "additionalProperties": False,
        "properties": {key: _field(field, defs) for key, field in shape.fields.items()},
    }


def _field(field: Field, defs: dict[str, Any]) -> dict[str, Any]:
    written = _schema(field.shape, defs)
    return {"description": field.description, **written} if field.description else written


# --- codetune's format ---------------------------------------------------------------------
class Fault(msgspec.Struct, frozen=True):
    """Where a line is not a Gemini example codetune tunes, and how."""

    path: tuple[str | int, ...]
    problem: str

    @property
    def field(self) -> str:
        """The path as a report writes it: `contents[1].parts[0].text`."""
        written = ""
        for step in self.path:
            written += f"[{step}]" if isinstance(step, int) else f".{step}" if written else step
        return written


def faults(example: Any) -> list[Fault]:
    """What keeps `example` from being a line of codetune's Gemini format: Google's, with a
    role on every turn, text parts only and no text blank. Fields codetune drops are not
    faults; fields of no format are."""
    return list(_walk(EXAMPLE, example, ()))


def _walk(shape: Shape, value: Any, path: tuple[str | int, ...]) -> Iterator[Fault]:
    if isinstance(shape, Text):
        if not isinstance(value, str):
            yield Fault(path, "is not a string")
        elif shape.values and value not in shape.values:
            yield Fault(path, "is none of " + ", ".join(map(repr, shape.values)))
        elif shape.tuned and not value.strip():
            yield Fault(path, "is blank")
    elif isinstance(shape, Array):
        if not isinstance(value, list):
            yield Fault(path, "is not an array")
        elif len(value) < shape.min_items:
            yield Fault(path, "is empty")
        else:
            for index, item in enumerate(value):
                yield from _walk(shape.items, item, (*path, index))
    elif isinstance(shape, OneOf):
        yield from _one_of(shape, value, path)
    elif isinstance(shape, Object):
        yield from _object(shape, value, path)


def _object(shape: Object, value: Any, path: tuple[str | int, ...]) -> Iterator[Fault]:
    if not isinstance(value, dict):
        yield Fault(path, f"is not an object (a {shape.noun})")
        return
    for key in value.keys() - shape.fields.keys():
        yield Fault((*path, key), "is not a field of Gemini's format")
    for key, field in shape.fields.items():
        if key not in value:
            if field.needed:
                yield Fault((*path, key), "is missing")
        elif field.use is Use.TUNED:
            yield from _walk(field.shape, value[key], (*path, key))


def _one_of(shape: OneOf, value: Any, path: tuple[str | int, ...]) -> Iterator[Fault]:
    """The one option whose fields the value holds (a union holds exactly one)."""
    held = [
        option
        for option in shape.options
        if isinstance(value, dict) and not value.keys().isdisjoint(option.fields)
    ]
    if len(held) != 1:
        nouns = " or ".join(option.noun for option in shape.options)
        yield Fault(path, f"is not one {nouns}")
    elif held[0].use is Use.REFUSED:
        yield Fault(path, f"is a {held[0].noun}: codetune tunes text parts only")
    else:
        yield from _object(held[0], value, path)
