"""The model card rendered from its template (sft/templates/model_card.md) for two runs, a LoRA adapter of SmolLM2
on mushroom and MiniLM fine-tuned whole on tweets, equals the card the line-by-line code wrote before it
(tests/fixtures/model_cards/, written by that code): the same sections, metadata and numbers, byte for byte. The
runs' files are kept beside the cards (tests/fixtures/model_cards/runs/, as committed under results/runs/ when
the cards were written), so a later retraining of the committed runs leaves the comparison as it was."""

import shutil
from pathlib import Path

import pytest

from sft.model_card import build_model_card
from sft.models import resolve_model

FIXTURES = Path(__file__).parent / "fixtures" / "model_cards"
RUNS = FIXTURES / "runs"
RUN_FILES = ("config.yaml", "run.json", "test_results.json", "train_log.jsonl")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")
CASES = {
    "mushroom-smollm2-lora": ("mushroom/smollm2-135m-instruct-lora", "smollm2-135m-instruct", "adapter"),
    "tweets-minilm-full": ("tweets/minilm-l6-full", "minilm-l6", "model"),
}


def card_of(case: str, folder: Path) -> str:
    """The card of a run's files, its weights folder holding the packaged model's tokenizer (the weights
    themselves are not committed and the card does not read them)."""
    run, model_name, weights = CASES[case]
    run_dir = folder / run
    run_dir.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy(RUNS / run / name, run_dir / name)
    model = resolve_model(model_name)
    weights_dir = run_dir / weights
    weights_dir.mkdir()
    for name in TOKENIZER_FILES:
        if (Path(model.path) / name).is_file():
            shutil.copy(Path(model.path) / name, weights_dir / name)
    if weights == "adapter":
        (weights_dir / "adapter_config.json").write_text("{}")
    return str(build_model_card(run_dir, weights_dir, model))


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_card_from_its_template_equals_the_card_written_line_by_line(case, tmp_path):
    assert card_of(case, tmp_path) == (FIXTURES / f"{case}.md").read_text()
