"""The checks every format's checker shares: a field's text, the fields a format lacks, a list
of turns and the order of its authors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

from codetune.dataset._state import PassState
from codetune.dataset.keys import shown_key
from codetune.dataset.rules import CHAT_FIRST_AUTHOR, CHAT_LAST_AUTHOR, Rule

_JSON_TYPES: dict[type, str] = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
    list: "an array",
    dict: "an object",
}


def is_text(value: object) -> TypeGuard[str]:
    """A non-empty string that is not only white space (the S-1 rule for every text field)."""
    return type(value) is str and bool(value) and not value.isspace()


def json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def wrong_role(
    role: str, allowed: str, form: str, named_elsewhere: dict[str, tuple[str, str]]
) -> str:
    """A role the format does not take: what it takes and, for another format's name of one
    of its roles, the fix. Any other role is never quoted: it may be anything."""
    fault = f"role must be {allowed}"
    if role not in named_elsewhere:
        return fault
    where, name = named_elsewhere[role]
    return f"{fault}: found '{role}' ({where} name); {form} format names it '{name}'"


def text_field(
    state: PassState, number: int, holder: dict[str, Any], key: str, where: str
) -> str | None:
    """The field's text if it is a non-empty string; otherwise report it and return None."""
    value = holder.get(key)
    if is_text(value):
        return value
    if key not in holder:
        problem = "is missing"
    elif isinstance(value, str):
        problem = "is empty"
    else:
        problem = f"is {json_type(value)}; it must be a string"
    state.error(Rule.FORMAT, f"{key} {problem}", number, where)
    return None


def unknown_fields(
    state: PassState, number: int, holder: dict[str, Any], known: frozenset[str], prefix: str
) -> None:
    for key in holder.keys() - known:
        state.warn(
            Rule.UNKNOWN_FIELD,
            "field is not part of the format; tuning ignores or rejects it",
            number,
            prefix + shown_key(key),
        )


def turn_list(state: PassState, number: int, example: dict[str, Any], key: str) -> list[Any] | None:
    """The example's turns (OpenAI's messages, Gemini's contents); None (reported) unless they
    are a non-empty array."""
    turns = example.get(key)
    if not isinstance(turns, list) or not turns:
        problem = (
            "is missing"
            if key not in example
            else ("is empty" if isinstance(turns, list) else f"is {json_type(turns)}")
        )
        state.error(
            Rule.FORMAT, f"{key} {problem}; it must be a non-empty array of turns", number, key
        )
        return None
    return turns


def turn_object(
    state: PassState, number: int, turn: object, where: str, noun: str, known: frozenset[str]
) -> bool:
    """Whether a turn is an object (reported if not); its unknown fields are warned about."""
    if not isinstance(turn, dict):
        fields = " and ".join(sorted(known & {"role", "content", "parts"}))
        state.error(
            Rule.FORMAT,
            f"{noun} is {json_type(turn)}; it must be an object with {fields}",
            number,
            where,
        )
        return False
    unknown_fields(state, number, turn, known, where + ".")
    return True


def check_turns(
    state: PassState,
    number: int,
    authors: list[str],
    first: str = CHAT_FIRST_AUTHOR,
    last: str = CHAT_LAST_AUTHOR,
    where: Callable[[int], str] = lambda index: f"messages[{index}].author",
) -> bool:
    """Turns alternate, open with the user and close with the answer the model learns from
    (Google's format; OpenAI's and Gemini's the same with their role names)."""
    if authors[0] != first:
        state.error(
            Rule.CHAT_TURNS, f"the conversation must open with a '{first}' turn", number, where(0)
        )
        return False
    for index in range(1, len(authors)):
        if authors[index] == authors[index - 1]:
            state.error(
                Rule.CHAT_TURNS,
                f"two '{authors[index]}' turns in a row; turns alternate between '{first}' "
                f"and '{last}'",
                number,
                where(index),
            )
            return False
    if authors[-1] != last:
        state.error(
            Rule.CHAT_TURNS,
            f"the conversation must end with the '{last}' turn the model learns from",
            number,
            where(len(authors) - 1),
        )
        return False
    return True
