"""The repository stands on its own: no file points outside it, and every document's links resolve inside it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Paths that only ever existed beside this repository, in the workspace it grew in (split so this file does not match
# itself). Their content lives here now: docs/architecture.md, docs/channels.md and tools/contract_smoke.py.
OUTSIDE_REFERENCES = ("../" + "shared", "DESIGN" + ".md", "reference/" + "channels.md")
# Directories a checkout without git may hold that are nobody's source: environments, caches, build outputs.
UNTRACKED_DIRS = {".git", ".venv", ".venv-checkov", ".cache", "build", "node_modules", "__pycache__"}
# [text](target) and ![alt](target), with an optional "title"; and reference definitions: [label]: target
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def repository_files() -> list[Path]:
    """The files git tracks, plus new ones it does not ignore; without git, the tree less environments and caches."""
    git = shutil.which("git")
    if git is not None and (REPO / ".git").exists():
        listed = subprocess.run(
            [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return sorted({REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()})
    return sorted(
        p
        for p in REPO.rglob("*")
        if p.is_file()
        and not UNTRACKED_DIRS.intersection(p.relative_to(REPO).parts[:-1])
        and not any(part.startswith(".pytest") or part.endswith("_cache") for part in p.relative_to(REPO).parts)
    )


def text_of(path: Path) -> str | None:
    """The file as text, or None for a binary one (a NUL byte in it)."""
    data = path.read_bytes()
    return None if b"\0" in data else data.decode("utf-8", errors="replace")


def documents() -> list[Path]:
    """The README, everything under docs/ and each module's README: what a newcomer reads."""
    return [
        p
        for p in repository_files()
        if p.suffix == ".md" and (p.parent == REPO or p.relative_to(REPO).parts[0] in ("docs", "modules"))
    ]


def link_targets(markdown: str) -> list[str]:
    """Every link target of a markdown text, code blocks left out (an example there is not a link)."""
    prose = FENCE.sub("", markdown)
    return INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)


def test_no_file_points_outside_the_repository() -> None:
    offenders = []
    for path in repository_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            offenders += [f"{path.relative_to(REPO)}:{number}: {ref}" for ref in OUTSIDE_REFERENCES if ref in line]
    assert offenders == [], "references to files outside the repository:\n" + "\n".join(offenders)


def test_every_document_link_to_a_repository_path_resolves() -> None:
    assert REPO / "README.md" in documents()
    broken = []
    for document in documents():
        for target in link_targets(document.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
                continue  # a web address, a mail address or an anchor in the same document
            path = target.split("#", 1)[0].split("?", 1)[0]
            if not (document.parent / path).resolve().exists():
                broken.append(f"{document.relative_to(REPO)}: {target}")
    assert broken == [], "links to paths that do not exist:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("see [the design](docs/architecture.md#the-state-machine) and ![shot](docs/console.png)", 2),
        ('[x](<docs/channels.md> "title") and [web](https://example.com)', 2),
        ("[label]: docs/replay.md\n", 1),
        ("```\n[not a link](nowhere.md)\n```\n", 0),
    ],
)
def test_link_targets_are_found_in_prose_only(markdown: str, expected: int) -> None:
    assert len(link_targets(markdown)) == expected
