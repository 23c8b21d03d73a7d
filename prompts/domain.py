"""Domain text for causal-LM fine-tuning: a corpus of documents, cleaned, deduplicated, split by document.

    sftbench data django-docs          # the offline default: Django's documentation
    sftbench data domain:path/to/manual/   # any folder of .txt/.md/.rst files
    sftbench data domain:corpus.jsonl      # or a JSONL file with a `text` column

Each document is cleaned (reST directives, roles and heading underlines, Markdown links and fences,
whitespace), paragraphs repeated across the corpus are kept once (boilerplate would otherwise sit in
both train and test), and whole documents go to train, val (5%) or test (10%) by a seeded hash of their
id, so no document is in two splits. Records are `{"id", "text"}`; chunking into fixed-length token
blocks happens per model (its tokenizer) in `blocks()`.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prompts.sources import download
from sftbench_common.errors import UserError, located
from sftbench_common.fileio import iter_jsonl, read_text, sha256_bytes
from sftbench_common.paths import shown_path

DOMAIN_RATIOS = (0.85, 0.05, 0.10)
DOMAIN_FORMAT = "domain-2"  # bump when cleaning changes, so existing data/ is rebuilt
MIN_DEDUPE_CHARS = 60  # shorter paragraphs ("Example::") may repeat legitimately
MIN_DOCUMENT_CHARS = 200  # stubs (index pages of links) carry no prose
SUFFIXES = (".txt", ".rst", ".md")


@dataclass(frozen=True)
class Document:
    id: str
    text: str


@dataclass
class DomainTask:
    name: str
    source: str
    loader: Callable[[], tuple[list[Document], str]] = field(repr=False)  # -> raw documents, source sha256
    options: dict = field(default_factory=dict)  # what shaped the documents
    published_source: str | None = None  # as Task.published_source
    kind = "domain"

    def load(self) -> tuple[list[Document], str]:
        return self.loader()


# ---------------------------------------------------------------- cleaning

_STRUCTURAL = {
    "toctree",
    "contents",
    "highlight",
    "module",
    "currentmodule",
    "default-role",
    "raw",
    "image",
    "figure",
    "include",
    "index",
    "versionadded",
    "versionchanged",
    "deprecated",
    "meta",
    "fieldlist",
    "django-admin-option",
    "setting",
    "templatetag",
    "templatefilter",
    "fixture",
    "class",
    "function",
    "method",
    "attribute",
    "exception",
    "data",
}
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::(.*)$")
_COMMENT_OR_TARGET = re.compile(r"^\s*\.\.(\s+(_[^:]*:.*|\|[^|]+\|.*|[^:]*))?$")
_UNDERLINE = re.compile(r"^\s*([=\-`:'\"~^_*+#<>])\1{2,}\s*$")
_FIELD = re.compile(r"^\s+:[\w -]+:(\s.*)?$")
_ROLE = re.compile(r":[\w:+.-]+:`([^`]*?)`")
_LINK = re.compile(r"`([^`<]+?)\s*<[^>]*>`_{1,2}")
_LITERAL = re.compile(r"``([^`]+)``")
_REFERENCE = re.compile(r"`([^`]+)`_{0,2}")  # `text`_ and the default role `text`
_WORD_REFERENCE = re.compile(r"\b([A-Za-z][\w-]*[A-Za-z0-9])_{1,2}(?=[\s.,;:)'\"]|$)")  # Gunicorn_
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_FENCE = re.compile(r"^\s*(```|~~~).*$")
_MD_HEADING = re.compile(r"^#{1,6}\s+")


def _role_text(match: re.Match) -> str:
    text = match.group(1)
    target = re.match(r"(.*?)\s*<[^>]*>$", text, re.DOTALL)  # :doc:`title <path>` -> title
    return (target.group(1) if target else text).lstrip("~!")


def clean_text(text: str) -> str:
    """reST/Markdown source -> plain prose and code, with markup noise removed."""
    lines, skip_indent = [], None
    for line in text.replace("\r\n", "\n").replace("\t", "    ").split("\n"):
        indent = len(line) - len(line.lstrip())
        if skip_indent is not None:  # inside a structural directive's block
            if not line.strip() or indent > skip_indent:
                continue
            skip_indent = None
        directive = _DIRECTIVE.match(line)
        if directive:
            name = directive.group(2).split(":")[-1]
            if name in _STRUCTURAL:
                skip_indent = len(directive.group(1))
            else:  # note, warning, code-block, admonition ...: keep the content, drop the marker and options
                title = directive.group(3).strip()
                if title and name in ("admonition", "topic", "rubric"):
                    lines.append(directive.group(1) + title)
            continue
        if _COMMENT_OR_TARGET.match(line) or _UNDERLINE.match(line) or _MD_FENCE.match(line):
            continue
        if _FIELD.match(line) and lines and not lines[-1].strip():
            continue  # a directive's :option: lines
        lines.append(_MD_HEADING.sub("", line).rstrip())
    cleaned = "\n".join(lines)
    # Inline markup last, on the whole text: a role or link may wrap onto the next line.
    for pattern, replacement in (
        (_ROLE, _role_text),
        (_LINK, r"\1"),
        (_LITERAL, r"\1"),
        (_REFERENCE, r"\1"),
        (_WORD_REFERENCE, r"\1"),
        (_MD_LINK, r"\1"),
    ):
        cleaned = pattern.sub(replacement, cleaned)
    cleaned = re.sub(r"::$", ":", cleaned, flags=re.MULTILINE)  # "Example::" introduces a code block
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    return cleaned.strip()


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def _normalized(paragraph: str) -> str:
    return " ".join(paragraph.split())


def clean_corpus(documents: list[Document]) -> tuple[list[Document], dict]:
    """Clean every document, drop repeated long paragraphs (first one kept) and near-empty documents."""
    seen: set[str] = set()
    kept, stats = [], {"documents_in": len(documents), "paragraphs_dropped": 0, "documents_dropped": 0}
    for document in sorted(documents, key=lambda d: d.id):
        unique = []
        for paragraph in paragraphs(clean_text(document.text)):
            key = _normalized(paragraph)
            if len(key) >= MIN_DEDUPE_CHARS:
                if key in seen:
                    stats["paragraphs_dropped"] += 1
                    continue
                seen.add(key)
            unique.append(paragraph)
        text = "\n\n".join(unique)
        if len(text) < MIN_DOCUMENT_CHARS:
            stats["documents_dropped"] += 1
            continue
        kept.append(Document(document.id, text))
    return kept, stats


def split_documents(documents: list[Document], seed: int, ratios=DOMAIN_RATIOS) -> dict[str, list[Document]]:
    """Whole documents per split, by a seeded hash of the id: stable across runs, machines and corpus growth."""
    ranked = sorted(documents, key=lambda d: hashlib.sha256(f"{seed}:{d.id}".encode()).hexdigest())
    n_test = max(1, round(len(ranked) * ratios[2]))
    n_val = max(1, round(len(ranked) * ratios[1]))
    if len(ranked) < n_test + n_val + 1:
        raise UserError(
            f"{len(ranked)} document(s) after cleaning: a domain corpus needs at least 3 "
            f"(whole documents go to train, val and test)"
        )
    splits = {"test": ranked[:n_test], "val": ranked[n_test : n_test + n_val], "train": ranked[n_test + n_val :]}
    return {name: sorted(docs, key=lambda d: d.id) for name, docs in splits.items()}


def shared_between(splits: dict[str, list[Document]]) -> dict:
    """Document ids and long paragraphs that appear in more than one split (both must be empty)."""
    ids, texts = {}, {}
    for name, docs in splits.items():
        ids[name] = {d.id for d in docs}
        texts[name] = {
            _normalized(p) for d in docs for p in paragraphs(d.text) if len(_normalized(p)) >= MIN_DEDUPE_CHARS
        }
    names = list(splits)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    return {
        "documents": sorted({x for a, b in pairs for x in ids[a] & ids[b]}),
        "paragraphs": sorted({x for a, b in pairs for x in texts[a] & texts[b]}),
    }


# ---------------------------------------------------------------- token blocks


def blocks(texts: list[str], tokenizer, block_size: int, limit: int | None = None) -> list[list[int]]:
    """Documents tokenized, joined by EOS and cut into full blocks of `block_size` tokens (the tail is dropped)."""
    if block_size < 8:
        raise UserError(f"block_size {block_size} is too small for language modelling (use 128-1024)")
    separator = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    out, stream = [], []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + separator
        while len(stream) >= block_size:
            out.append(stream[:block_size])
            stream = stream[block_size:]
            if limit and len(out) >= limit:
                return out
    return out


# ---------------------------------------------------------------- sources

DJANGO_DOCS = (
    "Django==5.2.19",
    "django-5.2.19.tar.gz",
    "ad03d8abc51dbff95ebf34b27123cf0c26a3b62db7ba0cd520783686362533d1",
)


def _load_django_docs() -> tuple[list[Document], str]:
    requirement, archive_name, expected = DJANGO_DOCS
    archive = download(requirement, archive_name, sdist=True)
    digest = sha256_bytes(archive.read_bytes())
    if digest != expected:
        raise UserError(f"{archive}: sha256 {digest} does not match the expected {expected}; delete it and retry")
    documents = []
    with tarfile.open(archive) as tarred:
        for member in tarred.getmembers():
            _, _, path = member.name.partition("/")
            if (
                member.isfile()
                and path.startswith("docs/")
                and path.endswith(".txt")
                and not path.startswith(("docs/_theme/", "docs/releases/"))
            ):
                documents.append(Document(path, tarred.extractfile(member).read().decode("utf-8")))
    return documents, digest


def _folder_loader(path: Path) -> Callable[[], tuple[list[Document], str]]:
    def load() -> tuple[list[Document], str]:
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise UserError(f"{path}: no {'/'.join(SUFFIXES)} files in this folder")
        documents = [Document(f.relative_to(path).as_posix(), read_text(f)) for f in files]
        digest = hashlib.sha256()
        for document in documents:
            digest.update(f"{document.id}\0{document.text}\0".encode())
        return documents, digest.hexdigest()

    return load


def _jsonl_loader(path: Path, text_column: str) -> Callable[[], tuple[list[Document], str]]:
    def load() -> tuple[list[Document], str]:
        documents = []
        for line, row in iter_jsonl(path):
            text = row.get(text_column)
            if not isinstance(text, str) or not text.strip():
                raise UserError(f"{located(path, line, text_column)}: missing or empty text")
            documents.append(Document(str(row.get("id", f"{path.stem}-{line:06d}")), text))
        return documents, sha256_bytes(path.read_bytes())

    return load


DOMAIN_TASKS: dict[str, Callable[[], DomainTask]] = {
    "django-docs": lambda: DomainTask(
        "django-docs", "Django 5.2 documentation (reST), PyPI Django==5.2.19 sdist", _load_django_docs
    )
}


def domain_task(spec: str, options: dict) -> DomainTask:
    """`domain:PATH` (a folder of text files, or a JSONL file with a text column) or a built-in corpus."""
    if spec in DOMAIN_TASKS:
        if options:
            raise UserError(f"task '{spec}' takes no options (got {sorted(options)})")
        return DOMAIN_TASKS[spec]()
    path = Path(spec.partition(":")[2]).expanduser()
    unknown = set(options) - {"name", "text_column"}
    if unknown:
        raise UserError(f"task '{spec}': unknown option(s) {sorted(unknown)}; valid: name, text_column")
    name = options.get("name") or path.stem
    if path.is_dir():
        return DomainTask(
            name, f"text folder {path}", _folder_loader(path), dict(options), f"text folder {shown_path(path)}"
        )
    if path.is_file() and path.suffix == ".jsonl":
        return DomainTask(
            name,
            f"jsonl file {shown_path(path)}",
            _jsonl_loader(path, options.get("text_column", "text")),
            dict(options),
        )
    raise UserError(f"{path}: not a folder of {'/'.join(SUFFIXES)} files nor a .jsonl file")
