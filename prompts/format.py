"""How an Alpaca record is shown to a model: the same prompt for training and for the benchmark.

Models with a chat template (SmolLM2-Instruct, TinyLlama-Chat) get a conversational prompt/completion
pair; base models (GPT-2, Gemma-3 base) get the Alpaca text template. Either way TRL computes the loss
on the completion only: the label, then the end-of-turn/EOS token.
"""

from __future__ import annotations

ALPACA_TEMPLATE = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ELLIPSIS = " [...]"


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def user_message(instruction: str, text: str) -> str:
    return f"{instruction}\n\n{text}"


def prompt_completion(record: dict, tokenizer) -> dict:
    """TRL prompt-completion example (conversational if the model has a chat template)."""
    if has_chat_template(tokenizer):
        return {
            "prompt": [{"role": "user", "content": user_message(record["instruction"], record["input"])}],
            "completion": [{"role": "assistant", "content": record["output"]}],
        }
    return {
        "prompt": ALPACA_TEMPLATE.format(instruction=record["instruction"], input=record["input"]),
        "completion": record["output"],
    }


def prompt_text(record: dict, tokenizer, demonstrations: list[dict] = ()) -> str:
    """The exact prompt string a model sees at inference (chat template with the generation prompt).

    With `demonstrations` (in-context examples, prompts/fewshot.py) each one comes first in the model's own
    format: an earlier user turn and assistant answer under a chat template, an earlier answered Alpaca
    record under the text template."""
    if has_chat_template(tokenizer):
        messages = []
        for shown in demonstrations:
            messages += [
                {"role": "user", "content": user_message(shown["instruction"], shown["input"])},
                {"role": "assistant", "content": shown["output"]},
            ]
        messages.append({"role": "user", "content": user_message(record["instruction"], record["input"])})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    shown = "".join(
        ALPACA_TEMPLATE.format(instruction=d["instruction"], input=d["input"]) + d["output"] + "\n\n"
        for d in demonstrations
    )
    return shown + ALPACA_TEMPLATE.format(instruction=record["instruction"], input=record["input"])


def input_token_budget(tokenizer, instruction: str, labels: list[str], max_length: int) -> int:
    """Tokens left for the input field once the template, the longest label and EOS are in."""
    empty = prompt_completion({"instruction": instruction, "input": "", "output": max(labels, key=len)}, tokenizer)
    if has_chat_template(tokenizer):
        overhead = len(
            tokenizer.apply_chat_template(empty["prompt"] + empty["completion"], tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
    else:
        overhead = len(tokenizer(empty["prompt"] + empty["completion"])["input_ids"]) + 1
    return max_length - overhead - len(tokenizer(ELLIPSIS, add_special_tokens=False)["input_ids"]) - 4


def shorten_input(record: dict, tokenizer, budget: int) -> dict:
    """Cut a long input (an IMDB review) inside the input field, so truncation never cuts the label off."""
    ids = tokenizer(record["input"], add_special_tokens=False)["input_ids"]
    if len(ids) <= budget:
        return record
    return {**record, "input": tokenizer.decode(ids[: max(budget, 1)]).rstrip() + ELLIPSIS}
