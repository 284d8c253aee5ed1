"""The documentation keeps its promises: the README stays a short user guide, every link between
README.md and docs/ lands on a file and an anchor that exist, nothing cites documents that are
not in the repository, and docstrings carry no measured percentages (they go stale; figures
live in docs/benchmarks.md with the command that reproduces them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
README_LIMIT = 12_000  # bytes: the README is the user guide; details go to docs/
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$", re.M)
DOCS = sorted((ROOT / "docs").glob("*.md"))


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(md: Path) -> set[str]:
    text = md.read_text("utf-8")
    return set(ANCHOR.findall(text)) | {_slug(h) for h in HEADING.findall(_outside_code(text))}


def _outside_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def test_readme_is_at_most_12_kb() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move details into docs/"


def test_the_four_docs_exist() -> None:
    names = {p.name for p in DOCS}
    assert {"semantics.md", "architecture.md", "benchmarks.md", "operations.md"} <= names


@pytest.mark.parametrize("md", [ROOT / "README.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_land_on_a_file_and_an_anchor(md: Path) -> None:
    bad = []
    for target in LINK.findall(_outside_code(md.read_text("utf-8"))):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no anchor #{anchor} in {dest.name}")
    assert not bad, f"{md.name}: " + "; ".join(bad)


def _repo_text_files() -> list[Path]:
    skip = {".venv", ".pulse", ".git", "node_modules", "build", "_compiled"}
    out = []
    for p in ROOT.rglob("*"):
        if p.suffix in {".py", ".md", ".toml", ".yml", ".yaml"} and p.is_file() \
                and not skip & set(p.relative_to(ROOT).parts):
            out.append(p)
    return out


def test_nothing_cites_documents_outside_the_repository() -> None:
    cites = re.compile(r"DESIGN\.md|\bseeds? 00\d", re.I)
    this = Path(__file__).resolve()
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in _repo_text_files() if p.resolve() != this
            for n, line in enumerate(p.read_text("utf-8", "replace").splitlines(), 1)
            if cites.search(line)]
    assert not hits, "cite docs/ instead: " + ", ".join(hits)


def test_docstrings_carry_no_measured_percentages() -> None:
    percent = re.compile(r"\d(\.\d+)?\s?%")
    hits = []
    for pkg in ("scoring", "streams"):
        for p in (ROOT / pkg).rglob("*.py"):
            if "_compiled" in p.parts:
                continue
            tree = ast.parse(p.read_text("utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    doc = ast.get_docstring(node) or ""
                    if percent.search(doc):
                        hits.append(f"{p.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}")
    assert not hits, "measured figures belong in docs/benchmarks.md: " + ", ".join(hits)


def test_pointers_into_docs_from_code_land_on_an_anchor() -> None:
    pointer = re.compile(r"docs/([a-z_]+\.md)(?:#([a-z0-9-]+))?")
    bad = []
    for p in _repo_text_files():
        if p.suffix == ".md":
            continue
        for name, anchor in pointer.findall(p.read_text("utf-8", "replace")):
            dest = ROOT / "docs" / name
            if not dest.exists():
                bad.append(f"{p.relative_to(ROOT)}: docs/{name} does not exist")
            elif anchor and anchor not in _anchors(dest):
                bad.append(f"{p.relative_to(ROOT)}: no #{anchor} in docs/{name}")
    assert not bad, "; ".join(bad)
