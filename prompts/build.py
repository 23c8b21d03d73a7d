"""Build a task's Alpaca records and its fixed split: data/<task>/{train,val,test}.jsonl + meta.json.

    python -m prompts.build --task mushroom
    python -m prompts.build --all                       # every offline task
    python -m prompts.build --task csv:my.csv --text-column review --label-column sentiment
    python -m prompts.build --task django-docs        # domain text (documents, for perplexity; prompts/domain.py)

A task whose meta.json already matches its source, seed and ratios is not rebuilt (use --force).
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from prompts.domain import DOMAIN_FORMAT, DOMAIN_RATIOS, DOMAIN_TASKS, DomainTask, clean_corpus, shared_between, split_documents
from prompts.paths import data_dir
from prompts.split import SPLITS, stratified_split
from prompts.tasks import OFFLINE_TASKS, Task, get_task, task_names
from sft.errors import UserError, run_cli
from sft.fileio import atomic_write_json, atomic_write_jsonl, read_jsonl

DEFAULT_SEED = 42
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
RECORD_FORMAT = 2  # bump when Task.record changes, so existing data/ is rebuilt


def dedupe(examples):
    """Drop exact repeats of an input text (keeping the first) so no text is in both train and test."""
    seen, kept = set(), []
    for example in examples:
        if example.text not in seen:
            seen.add(example.text)
            kept.append(example)
    return kept, len(examples) - len(kept)


def _up_to_date(out: Path, checksum: str, seed: int, ratios, record_format=RECORD_FORMAT) -> dict | None:
    meta_path = out / "meta.json"
    if meta_path.is_file() and all((out / f"{s}.jsonl").is_file() for s in SPLITS):
        meta = json.loads(meta_path.read_text())
        if (meta.get("source_sha256"), meta.get("seed"), meta.get("ratios"), meta.get("record_format")) == (
                checksum, seed, list(ratios), record_format):
            return meta
    return None


def build_domain(task: DomainTask, out_root: Path | None, seed: int, force: bool) -> dict:
    """A domain corpus: cleaned, deduplicated documents, whole documents per split (prompts/domain.py)."""
    out = (out_root or data_dir()) / task.name
    documents, checksum = task.loader()
    if not force and (meta := _up_to_date(out, checksum, seed, DOMAIN_RATIOS, DOMAIN_FORMAT)):
        return meta
    kept, stats = clean_corpus(documents)
    splits = split_documents(kept, seed)
    shared = shared_between(splits)
    if shared["documents"] or shared["paragraphs"]:  # cannot happen after dedupe; a regression guard
        raise RuntimeError(f"{task.name}: splits share {len(shared['documents'])} document(s) and "
                           f"{len(shared['paragraphs'])} paragraph(s)")
    for name in SPLITS:
        atomic_write_jsonl(out / f"{name}.jsonl", ({"id": d.id, "text": d.text} for d in splits[name]))
    meta = {"task": task.name, "kind": "domain", "source": task.source, "source_sha256": checksum, "seed": seed,
            "ratios": list(DOMAIN_RATIOS), "record_format": DOMAIN_FORMAT, **stats,
            "total": sum(len(v) for v in splits.values()),
            "counts": {name: {"documents": len(docs), "lines": sum(d.text.count("\n") + 1 for d in docs),
                              "characters": sum(len(d.text) for d in docs)} for name, docs in splits.items()}}
    atomic_write_json(out / "meta.json", meta)
    return meta


def build_task(task: Task | DomainTask, out_root: Path | None = None, seed: int = DEFAULT_SEED,
               ratios: tuple[float, float, float] = DEFAULT_RATIOS, force: bool = False) -> dict:
    """Write the task's split files if they are missing or stale; return its meta.json content."""
    if isinstance(task, DomainTask):
        return build_domain(task, out_root, seed, force)
    out = (out_root or data_dir()) / task.name
    examples, checksum = task.load()
    if not force and (meta := _up_to_date(out, checksum, seed, ratios)):
        return meta
    meta_path = out / "meta.json"
    examples, duplicates = dedupe(examples)
    splits = stratified_split(examples, seed=seed, ratios=ratios, source=task.source)
    for name in SPLITS:
        atomic_write_jsonl(out / f"{name}.jsonl", (task.record(e) for e in splits[name]))
    meta = {
        "task": task.name,
        "labels": list(task.labels),
        "instruction": task.instruction,
        "source": task.source,
        "source_sha256": checksum,
        "seed": seed,
        "ratios": list(ratios),
        "record_format": RECORD_FORMAT,
        "duplicates_dropped": duplicates,
        "total": sum(len(v) for v in splits.values()),
        "counts": {name: dict(sorted(Counter(e.label for e in splits[name]).items())) for name in SPLITS},
    }
    atomic_write_json(meta_path, meta)  # written last: its presence marks a complete build
    return meta


def load_split(task_name: str, split: str, data_root: Path | None = None) -> list[dict]:
    """Records of one split of an already built task (`make data` / prompts.build builds them)."""
    path = (data_root or data_dir()) / task_name / f"{split}.jsonl"
    if not (path.parent / "meta.json").is_file():
        raise UserError(f"{path.parent}: task '{task_name}' is not built; run `python -m prompts.build "
                        f"--task {task_name}` (or `make data`)")
    return read_jsonl(path)


def load_meta(task_name: str, data_root: Path | None = None) -> dict:
    path = (data_root or data_dir()) / task_name / "meta.json"
    if not path.is_file():
        raise UserError(f"{path}: task '{task_name}' is not built; run `make data`")
    return json.loads(path.read_text())


def format_counts(meta: dict) -> str:
    if meta.get("kind") == "domain":
        return "\n".join(f"  {name.ljust(7)}{c['documents']:>6} documents{c['lines']:>9} lines{c['characters']:>11} characters"
                         for name, c in meta["counts"].items())
    labels = meta["labels"]
    width = max(len(label) for label in labels + ["split"])
    lines = ["  " + "split".ljust(7) + "".join(label.rjust(width + 2) for label in labels) + "total".rjust(8)]
    for name in SPLITS:
        counts = meta["counts"][name]
        lines.append("  " + name.ljust(7) + "".join(str(counts.get(label, 0)).rjust(width + 2) for label in labels)
                     + str(sum(counts.values())).rjust(8))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prompts.build", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", action="append", default=[],
                        help=f"task name ({', '.join(task_names())}) or csv:PATH / jsonl:PATH; repeatable")
    parser.add_argument("--all", action="store_true", help="build every offline task (domain corpora included)")
    parser.add_argument("--out", type=Path, default=None, help="output root (default: data/ or $SFTBENCH_DATA)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--ratios", default="0.8,0.1,0.1", help="train,val,test fractions (default 0.8,0.1,0.1)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the split is up to date")
    group = parser.add_argument_group("user files (csv:/jsonl: tasks)")
    group.add_argument("--label-column", help="column holding the label (default: label)")
    group.add_argument("--text-column", help="column holding the text")
    group.add_argument("--feature-columns", help="comma-separated columns rendered as 'Column: value.'")
    group.add_argument("--id-column", help="column holding a unique id (default: the line number)")
    group.add_argument("--labels", help="comma-separated declared label set; other labels are an error")
    group.add_argument("--question", help="what the model is asked, e.g. 'Is this review positive?'")
    group.add_argument("--name", help="folder name for the task (default: the file's stem)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    args = parser.parse_args(argv)
    try:
        ratios = tuple(float(x) for x in args.ratios.split(","))
    except ValueError:
        raise UserError(f"--ratios: expected three numbers like 0.8,0.1,0.1, got '{args.ratios}'") from None
    names = [*OFFLINE_TASKS, *DOMAIN_TASKS] if args.all else args.task
    if not names:
        parser.error("give --task NAME (repeatable) or --all")
    file_options = {key: value for key in ("label_column", "text_column", "feature_columns", "id_column", "labels",
                                           "question", "name") if (value := getattr(args, key)) is not None}
    for name in names:
        task = get_task(name, **(file_options if name.startswith(("csv:", "jsonl:")) else {}))
        meta = build_task(task, args.out, seed=args.seed, ratios=ratios, force=args.force)
        out = (args.out or data_dir()) / task.name
        dropped = (f" ({meta['duplicates_dropped']} duplicate texts dropped)" if meta.get("duplicates_dropped") else
                   f" ({meta['paragraphs_dropped']} repeated paragraphs and {meta['documents_dropped']} stub documents "
                   f"dropped)" if meta.get("kind") == "domain" else "")
        print(f"{task.name}: {meta['total']} {'documents' if meta.get('kind') == 'domain' else 'records'} -> "
              f"{out}/{{train,val,test}}.jsonl" + dropped)
        print(format_counts(meta))
    return 0


if __name__ == "__main__":
    run_cli(main)
