"""The code in a Markdown answer: its fenced code blocks, read as CommonMark reads them.

A fence is a line of at least three backticks or tildes, indented by at most three spaces; its
info string's first word is the block's language. The block ends at a line of the same
character, at least as long, and nothing else; a fence never closed (an answer cut off at its
token limit) runs to the end of the text. An opening fence's indentation is taken off each
line of its block, as CommonMark does.
"""

from __future__ import annotations

import re

import msgspec

_OPEN = re.compile(r"(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)")


class Block(msgspec.Struct, frozen=True):
    """One fenced code block: its info string's first word (lowercase), and its code."""

    tag: str | None
    code: str


def fenced_blocks(text: str) -> list[Block] | None:
    """The text's fenced code blocks in order; None when it has no fence at all."""
    lines = text.splitlines(keepends=True)
    blocks: list[Block] = []
    found, index = False, 0
    while index < len(lines):
        opening = _OPEN.fullmatch(lines[index].rstrip("\r\n"))
        index += 1
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            continue  # CommonMark: a backtick fence's info string holds no backtick
        found = True
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*")
        body: list[str] = []
        while index < len(lines) and not closing.fullmatch(lines[index].rstrip("\r\n")):
            body.append(_dedent(lines[index], indent))
            index += 1
        index += 1  # past the closing fence (or the end)
        words = opening["info"].split()
        blocks.append(Block(words[0].lower() if words else None, "".join(body)))
    return blocks if found else None


def _dedent(line: str, indent: int) -> str:
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, indent) :]
