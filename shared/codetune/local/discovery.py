"""Google's official resource schemas, from the discovery documents, as JSON Schema.

The discovery documents ship inside google-api-python-client (a test and local-stack
dependency, not a runtime one): `googleapiclient/discovery_cache/documents/<api>.<version>.json`.
`json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1PipelineJob")` turns one of their
schemas into a JSON Schema that rejects unknown fields and wrong types, and, for a request
(`request=True`), fields that are output only.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

# Discovery formats whose JSON form is a string (proto3 JSON mapping: 64-bit integers travel as
# strings, and are accepted as numbers too).
_INT64_FORMATS = {"int64", "uint64"}


@functools.cache
def discovery_document(api: str, version: str) -> dict[str, Any]:
    folder = resources.files("googleapiclient").joinpath("discovery_cache", "documents")
    document: dict[str, Any] = json.loads(folder.joinpath(f"{api}.{version}.json").read_text())
    return document


def json_schema(api: str, version: str, name: str, request: bool = False) -> dict[str, Any]:
    """The JSON Schema of discovery schema `name`, with every schema it refers to."""
    schemas = discovery_document(api, version)["schemas"]
    definitions = {key: _convert(value, request) for key, value in schemas.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/$defs/{name}",
        "$defs": definitions,
    }


def _convert(node: dict[str, Any], request: bool) -> dict[str, Any] | bool:
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    kind = node.get("type")
    if kind == "any":
        return True
    if kind == "object":
        out: dict[str, Any] = {"type": "object"}
        if "properties" in node:
            out["properties"] = {
                key: (False if request and value.get("readOnly") else _convert(value, request))
                for key, value in node["properties"].items()
            }
            out["additionalProperties"] = False
        if "additionalProperties" in node:
            out["additionalProperties"] = _convert(node["additionalProperties"], request)
        return out
    if kind == "array":
        return {"type": "array", "items": _convert(node.get("items", {"type": "any"}), request)}
    if kind == "string" and node.get("format") in _INT64_FORMATS:
        return {"type": ["string", "integer"], "pattern": r"^-?\d+$"}
    if kind == "string":
        out = {"type": "string"}
        if "enum" in node:
            out["enum"] = node["enum"]
        return out
    if kind == "integer":
        return {"type": "integer"}
    if kind == "number":
        return {"type": "number"}
    if kind == "boolean":
        return {"type": "boolean"}
    return True
