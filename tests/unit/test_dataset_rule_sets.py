"""Rules follow the target model: the seed's code-bison limits (S-2..S-6, S-9) for the legacy
models, Google's Gemini limits for Gemini (codetune.gemini.models)."""

from __future__ import annotations

from codetune.dataset import DatasetRole
from codetune.tuning.backends import default_rules, rules_for
from tests.support import (
    LEGACY_RULES,
    chat_dataset,
    dataset,
    generation,
    generation_dataset,
    validate,
)

GEMINI = default_rules()


def rules_of(report: dict[str, object]) -> set[str]:
    return {str(f["rule"]) for f in report["errors"]}  # type: ignore[index, union-attr]


def test_the_report_names_the_model_the_rule_set_and_the_format() -> None:
    report = validate(dataset(generation_dataset(12)), rules=GEMINI)
    assert (report["base_model"], report["rule_set"], report["format"]) == (
        "gemini-3.5-flash",
        "gemini",
        "seed",
    )
    legacy = validate(dataset(generation_dataset(12)))
    assert (legacy["base_model"], legacy["rule_set"]) == ("code-bison@002", "code-bison")


def test_gemini_takes_more_than_the_seeds_10000_generation_examples() -> None:
    data = dataset(generation_dataset(10_001))
    assert "S-3" in rules_of(validate(data))
    assert validate(data, rules=GEMINI)["valid"]


def test_gemini_validation_sets_take_chat_and_up_to_5000_examples() -> None:
    chats = dataset(chat_dataset(12))
    assert "S-6" in rules_of(validate(chats, role=DatasetRole.EVALUATION))
    assert validate(chats, role=DatasetRole.EVALUATION, rules=GEMINI)["valid"]
    three_hundred = dataset(generation_dataset(300))
    assert "S-5" in rules_of(validate(three_hundred, role=DatasetRole.EVALUATION))
    assert validate(three_hundred, role=DatasetRole.EVALUATION, rules=GEMINI)["valid"]
    too_many = validate(
        dataset(generation_dataset(5_001)), role=DatasetRole.EVALUATION, rules=GEMINI
    )
    assert [(e["rule"], e["line"]) for e in too_many["errors"]] == [("gemini-size", 5_001)]


def test_an_example_over_geminis_token_limit_is_a_warning_and_all_of_them_an_error() -> None:
    huge = "x" * (131_072 * 4 + 4)  # about 131,073 tokens (estimated) with the prompt
    lines = generation_dataset(12)
    lines[4] = generation(4, output_text=huge)
    one = validate(dataset(lines), rules=GEMINI)
    assert one["valid"]
    assert [(w["rule"], w["line"]) for w in one["warnings"] if w["rule"] == "gemini-tokens"] == [
        ("gemini-tokens", 5)
    ]
    assert one["stats"]["estimated_tokens"]["examples_over_model_limit"] == 1
    every = validate(dataset([generation(i, output_text=huge) for i in range(12)]), rules=GEMINI)
    assert not every["valid"] and "gemini-tokens" in rules_of(every)


def test_the_8k_model_limits_do_not_apply_to_gemini() -> None:
    long_prompt = "Write the code in Python: " + "y" * 30_000
    data = dataset([generation(i, input_text=long_prompt + str(i)) for i in range(12)])
    assert any(w["rule"] == "S-9" for w in validate(data)["warnings"])
    assert not any(w["rule"] == "S-9" for w in validate(data, rules=GEMINI)["warnings"])


def test_every_backend_gives_the_rules_of_each_of_its_models() -> None:
    assert rules_for("codechat-bison@002") is not None
    assert rules_for("gemini-2.5-pro") is not None and rules_for("gemini-9") is None
    assert LEGACY_RULES.name == "code-bison" and GEMINI.name == "gemini"
