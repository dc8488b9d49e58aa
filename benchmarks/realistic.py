"""Realistic code-tuning datasets, generated deterministically from a seed.

What real code datasets look like and the standard-library set (`datasets.py`) does not: many
small and mid-sized examples rather than few large ones, eight languages, multi-line code full of
quotes, backslashes and tabs, unicode in every prompt, the instruction sometimes 80 to 110
characters in, some prompts laid out with labels, credentials read from the environment or left
as placeholders in 5% of code blocks; and chats of two to four turns, most with a context.

    python -m benchmarks.realistic OUT_DIR   # writes realistic-generation.jsonl, realistic-chat.jsonl
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson

GENERATION_EXAMPLES = 10_000
CHAT_EXAMPLES = 3_200

LANGUAGES = ("Python", "Go", "Rust", "Java", "TypeScript", "C++", "SQL", "Bash")
# Unicode a real prompt carries: accents, dashes, quotes, CJK, emoji, math.
UNICODE = (
    "café", "naïve", "—", "“quoted”", "日本語のテキスト", "données", "Größe", "✓", "🚀", "≤ n ≤",
    "São Paulo",
)  # fmt: skip
TASKS = (
    "parse a CSV line into fields, honouring quoted commas",
    "return the n-th Fibonacci number without recursion",
    "merge two sorted lists into one sorted list",
    "count the words of a text, ignoring case and punctuation",
    "check that a string of brackets is balanced",
    "read a config file of key = value lines into a map",
    "retry an HTTP call with exponential backoff and jitter",
    "find the longest common prefix of a list of strings",
    "validate an e-mail address with a simple pattern",
    "group records by a key and sum a field",
    "escape a string for use inside a JSON document",
    "compute a moving average over a window of k values",
)
OPENERS_NEAR = ("Write the code in {lang}: {task}.", "Implement a {lang} function to {task}.")
OPENERS_FAR = (
    "We have a small service that handles {uni} requests and the team keeps hitting the same "
    "problem; please write it in {lang}: {task}.",
    "Context for the reviewer — the existing module is old, undocumented and used by {uni} "
    "customers every day. Using {lang}, {task}.",
)
LABELLED = "Question: {task}?\nLanguage: {lang}\nContext: used by {uni} users.\nAnswer:"

_CODE = {
    "Python": 'def {name}(items, sep=","):\n\t"""{doc}"""\n\tout = []\n\tfor i, item in enumerate(items):\n\t\tif "\\\\" in item or \'"\' in item:\n\t\t\titem = item.replace("\\\\", "\\\\\\\\")\n\t\tout.append(f"{{i}}:{{item!r}}")\n\treturn sep.join(out)\n',
    "Go": 'func {name}(items []string) (string, error) {{\n\t// {doc}\n\tvar b strings.Builder\n\tfor i, s := range items {{\n\t\tif strings.ContainsAny(s, "\\"\\\\") {{\n\t\t\treturn "", fmt.Errorf("bad item %d: %q", i, s)\n\t\t}}\n\t\tb.WriteString(s + "\\t")\n\t}}\n\treturn b.String(), nil\n}}\n',
    "Rust": 'fn {name}(items: &[&str]) -> Result<String, String> {{\n    // {doc}\n    let mut out = String::new();\n    for (i, s) in items.iter().enumerate() {{\n        if s.contains(\'\\\\\') {{ return Err(format!("item {{}}: \\"{{}}\\"", i, s)); }}\n        out.push_str(&s.replace("\\t", "    "));\n    }}\n    Ok(out)\n}}\n',
    "Java": 'public static String {name}(List<String> items) {{\n    // {doc}\n    StringBuilder sb = new StringBuilder();\n    for (String s : items) {{\n        sb.append(s.replace("\\\\", "\\\\\\\\").replace("\\"", "\\\\\\"")).append(\'\\t\');\n    }}\n    return sb.toString();\n}}\n',
    "TypeScript": 'export function {name}(items: string[]): string {{\n  // {doc}\n  return items\n    .map((s, i) => `${{i}}:${{s.replace(/\\\\/g, "\\\\\\\\")}}`)\n    .join("\\t");\n}}\n',
    "C++": 'std::string {name}(const std::vector<std::string>& items) {{\n    // {doc}\n    std::ostringstream out;\n    for (const auto& s : items) {{\n        out << "\\"" << s << "\\"\\t";\n    }}\n    return out.str();\n}}\n',
    "SQL": "-- {doc}\nSELECT customer_id,\n       SUM(amount) AS total,\n       STRING_AGG(note, E'\\t') AS notes\nFROM orders\nWHERE note NOT LIKE '%\\\\%' ESCAPE '!'\nGROUP BY customer_id\nHAVING SUM(amount) > 100;\n",
    "Bash": "#!/usr/bin/env bash\n# {doc}\n{name}() {{\n\tlocal IFS=$'\\t'\n\tfor item in \"$@\"; do\n\t\tprintf '%s\\n' \"${{item//\\\\/\\\\\\\\}}\"\n\tdone\n}}\n",
}


# How real code handles credentials: read from the environment, or a placeholder for the reader
# to fill in. Secret-like, no secret: what the secret scan must pass without a finding (some
# lines get through its pre-filter, so its second stage is measured too).
_CREDENTIALS = {
    "Python": 'DB_PASSWORD = os.environ["DB_PASSWORD"]\nAPI_KEY = "YOUR_API_KEY"  # set before running\n',
    "Go": 'token := os.Getenv("API_TOKEN")\nconst apiKey = "<your-api-key>"\n',
    "Rust": 'let token = std::env::var("API_TOKEN")?;\n',
    "Java": 'String password = System.getenv("DB_PASSWORD");\nprivate static final String SECRET = "changeme";\n',
    "TypeScript": 'const apiKey = process.env.API_KEY ?? "your-api-key";\n',
    "C++": 'const char* password = std::getenv("DB_PASSWORD");\n',
    "SQL": "-- password: set through PGPASSWORD, never in this file\n",
    "Bash": 'export API_TOKEN="${API_TOKEN:?set it first}"\n',
}
CREDENTIAL_SHARE = 0.05  # of code blocks


def _prompt(rng: random.Random, language: str, task: str) -> str:
    uni = rng.choice(UNICODE)
    draw = rng.random()
    if draw < 0.15:
        text = LABELLED.format(task=task, lang=language, uni=uni)
    elif draw < 0.5:
        text = rng.choice(OPENERS_FAR).format(task=task, lang=language, uni=uni)
    else:
        text = rng.choice(OPENERS_NEAR).format(task=task, lang=language) + f" ({uni})"
    text += f" Keep it under {rng.randrange(20, 400)} lines."
    if rng.random() < 0.4:  # some prompts carry code to work on
        text += "\n\n```\n" + _code(rng, language, task) + "```"
    return text


def _code(rng: random.Random, language: str, task: str) -> str:
    body = _CODE[language].format(
        name=f"{rng.choice(('parse', 'merge', 'count', 'load'))}_{rng.randrange(10**6)}", doc=task
    )
    body *= rng.choice((1, 1, 1, 2, 3, 6))  # mixed sizes
    if rng.random() < CREDENTIAL_SHARE:
        body = _CREDENTIALS[language] + body
    return body


def generation_lines(count: int = GENERATION_EXAMPLES, seed: int = 13) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(count):
        language, task = rng.choice(LANGUAGES), rng.choice(TASKS)
        yield orjson.dumps(
            {"input_text": _prompt(rng, language, task), "output_text": _code(rng, language, task)}
        )


def chat_lines(count: int = CHAT_EXAMPLES, seed: int = 17) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(count):
        language, task = rng.choice(LANGUAGES), rng.choice(TASKS)
        messages = []
        for turn in range(rng.choice((2, 4)) // 2):  # one or two exchanges: two or four turns
            ask = (
                _prompt(rng, language, task)
                if turn == 0
                else f"Now make it handle {rng.choice(UNICODE)} input, {rng.randrange(99)} at a time."
            )
            messages += [
                {"author": "user", "content": ask},
                {"author": "assistant", "content": _code(rng, language, task)},
            ]
        example: dict[str, object] = {"messages": messages}
        if rng.random() < 0.7:
            context = f"You are a senior {language} engineer. Answer with code only."
            example = {"context": context, **example}
        yield orjson.dumps(example)


def write(lines: Iterator[bytes], path: Path) -> Path:
    with path.open("wb") as out:
        for line in lines:
            out.write(line + b"\n")
    return path


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in (("generation", generation_lines()), ("chat", chat_lines())):
        path = write(lines, folder / f"realistic-{name}.jsonl")
        print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
