"""`codetune convert PATH --to gemini|openai|seed`, run as a user runs it: `--to gemini` writes
the very file tune gives a Gemini job; the other formats round-trip; nothing is written for an
invalid dataset, over an existing file, or where the target format cannot hold an example."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole
from codetune.tuning.backends.gemini import convert
from codetune.tuning.common import DatasetRef
from tests.support import chat_dataset, dataset, generation
from tests.unit.fakes import MemoryStorage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def codetune(*args: str | Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    return subprocess.run(
        [sys.executable, "-m", "codetune.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


def lines(path: Path) -> list[object]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("name", "kind", "form"),
    [
        ("code-generation.jsonl", DatasetKind.GENERATION, DatasetFormat.SEED),
        ("code-chat.jsonl", DatasetKind.CHAT, DatasetFormat.SEED),
        ("code-chat.openai.jsonl", DatasetKind.CHAT, DatasetFormat.OPENAI),
        ("code-chat.gemini.jsonl", DatasetKind.CHAT, DatasetFormat.GEMINI),
    ],
)
def test_to_gemini_writes_the_file_tune_gives_the_job(
    tmp_path: Path, name: str, kind: DatasetKind, form: DatasetFormat
) -> None:
    source = tmp_path / name
    shutil.copy(EXAMPLES / name, source)
    manifest = {"parameters": {"default_context": "Answer with typed Python."}}
    source.with_name(source.name.replace(".jsonl", ".tuning.json")).write_bytes(
        orjson.dumps(manifest)
    )
    result = codetune("convert", source, "--to", "gemini", "--out", tmp_path / "out.jsonl")
    assert result.returncode == 0, result.stderr
    storage = MemoryStorage()
    generation_id = storage.put("drop", f"incoming/{name}", source.read_bytes())
    context = manifest["parameters"]["default_context"]
    convert(
        storage,
        DatasetRef(f"gs://drop/incoming/{name}", generation_id),
        "gs://state/converted.jsonl",
        kind,
        DatasetRole.TRAINING,
        context,
        format=form,
    )
    assert (tmp_path / "out.jsonl").read_bytes() == storage.read_bytes("state", "converted.jsonl")


def test_seed_and_openai_round_trip(tmp_path: Path) -> None:
    seed = tmp_path / "chats.jsonl"
    shutil.copy(EXAMPLES / "code-chat.jsonl", seed)
    assert codetune("convert", seed, "--to", "openai").returncode == 0
    openai = tmp_path / "chats.openai.jsonl"
    assert codetune("validate", openai).returncode == 0
    assert (
        codetune("convert", openai, "--to", "seed", "--out", tmp_path / "back.jsonl").returncode
        == 0
    )
    assert lines(tmp_path / "back.jsonl") == lines(seed)
    assert lines(openai) == lines(EXAMPLES / "code-chat.openai.jsonl")


def test_an_evaluation_dataset_stays_one(tmp_path: Path) -> None:
    source = tmp_path / "train.eval.jsonl"
    shutil.copy(EXAMPLES / "code-generation.eval.jsonl", source)
    assert codetune("convert", source, "--to", "gemini").returncode == 0
    written = tmp_path / "train.gemini.eval.jsonl"
    assert '"role": "evaluation"' in codetune("validate", written, "--json").stdout


def test_nothing_is_written_for_an_invalid_dataset_or_over_a_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    data = chat_dataset(12)
    data[4] = b'{"messages": [{"author": "user", "content": "only a question"}]}'
    bad.write_bytes(dataset(data))
    result = codetune("convert", bad, "--to", "gemini")
    assert result.returncode == 1 and "line 5" in result.stderr
    assert "nothing written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]
    good = tmp_path / "good.jsonl"
    good.write_bytes(dataset(chat_dataset(12)))
    (tmp_path / "good.openai.jsonl").write_text("mine")
    taken = codetune("convert", good, "--to", "openai")
    assert taken.returncode == 2 and "--force" in taken.stderr
    assert (tmp_path / "good.openai.jsonl").read_text() == "mine"
    assert codetune("convert", good, "--to", "openai", "--force").returncode == 0
    assert codetune("validate", tmp_path / "good.openai.jsonl").returncode == 0


def test_a_context_a_seed_generation_example_cannot_hold_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "gen.jsonl"
    source.write_bytes(dataset([generation(i) for i in range(12)]))
    result = codetune("convert", source, "--to", "seed", "--set", "default_context=Be terse.")
    assert result.returncode == 1 and "no context" in result.stderr
    assert not (tmp_path / "gen.seed.jsonl").exists()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
