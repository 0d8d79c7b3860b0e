"""Every relative link in README.md and docs/**/*.md leads to a file inside the repository.

Users have a clone of this repository and nothing beside it, so a link such as
``../../../shared/DESIGN.md`` is dead for them. Links are found with markdown-it (rich's Markdown
parser, so code blocks and inline code are skipped as a renderer skips them); anchors
(``#section``) are not checked, and links with a scheme (``https:``) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Link:
    """A link target as written in a Markdown file, and where (1-based line and column)."""

    file: Path
    line: int
    column: int
    target: str


class _HtmlLinks(HTMLParser):
    """``href`` and ``src`` attributes of raw HTML inside Markdown."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.targets += [value for name, value in attrs if name in ("href", "src") and value]


class _AllLinks(MarkdownIt):
    """markdown-it that keeps the links it would drop as unsafe (``file:``), to report them."""

    def validateLink(self, url: str) -> bool:  # the name markdown-it calls
        return True


def _targets(token: Token) -> list[str]:
    if token.type == "link_open":
        return [str(token.attrs["href"])]
    if token.type == "image":
        return [str(token.attrs["src"])]
    if token.type in ("html_inline", "html_block"):
        parser = _HtmlLinks()
        parser.feed(token.content)
        return parser.targets
    return []


def links(file: Path) -> list[Link]:
    """Every link and image target of Markdown ``file``, with the line and column it is on."""
    text = file.read_text(encoding="utf-8")
    lines = text.splitlines()
    parser = _AllLinks("commonmark").enable("table")
    found = []
    for block in parser.parse(text):
        first, last = block.map or (0, len(lines))
        for token in [block, *(block.children or [])]:
            for target in _targets(token):
                # the first line of the block that shows the target, else (a reference link)
                # the first line of the file that does: its definition
                line, column = first + 1, 1
                for number in [*range(first, last), *range(len(lines))]:
                    if (at := lines[number].find(target)) >= 0:
                        line, column = number + 1, at + 1
                        break
                found.append(Link(file, line, column, target))
    return found


def problem(link: Link, root: Path) -> str | None:
    """Why ``link`` does not lead to a file inside ``root``, or None when it does."""
    parts = urlsplit(link.target)
    if parts.scheme == "file":
        return "a file: URL points outside the repository"
    if parts.scheme or parts.netloc:
        return None  # a web address
    if not parts.path:
        return None  # an anchor in the same file (#section)
    path = unquote(parts.path)
    base = root if path.startswith("/") else link.file.parent
    resolved = (base / path.lstrip("/")).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return "leads outside the repository"
    if not resolved.exists():
        return "no such file in the repository"
    return None


def markdown_files(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def problems(root: Path) -> tuple[list[str], int]:
    """Every broken link under ``root`` as ``file:line:column: target: why``; links checked."""
    found, checked = [], 0
    for file in markdown_files(root):
        for link in links(file):
            checked += 1
            if (why := problem(link, root)) is not None:
                where = f"{file.relative_to(root)}:{link.line}:{link.column}"
                found.append(f"{where}: {link.target}: {why}")
    return found, checked


def test_every_relative_link_in_the_docs_resolves_inside_the_repository() -> None:
    found, checked = problems(ROOT)
    assert checked > 20, "the link finder found almost no links: is the parser broken?"
    assert found == [], "broken links:\n" + "\n".join(found)


def test_the_checker_reports_every_bad_link_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "docs" / "how-to").mkdir(parents=True)
    (tmp_path / "docs" / "reference.md").write_text("# Reference\n")
    (tmp_path / "README.md").write_text("see [docs](docs/reference.md#reference)\n")
    (tmp_path / "docs" / "how-to" / "page.md").write_text(
        "# Page\n"
        "\n"
        "[ok](../reference.md) and [anchor](#page) and [web](https://iceberg.apache.org/spec/)\n"
        "[outside](../../../shared/DESIGN.md) and ![missing](img/nothing.png)\n"
        "\n"
        "```\n"
        "[in a code block](../../../shared/ignored.md)\n"
        "```\n"
        "`[inline code](../../../shared/ignored.md)` and <a href='../../../x.md'>html</a>\n"
        "\n"
        "[ref]: file:///etc/passwd\n"
        "a [reference][ref], and [root-relative](/docs/reference.md)\n"
    )
    found, checked = problems(tmp_path)
    assert checked == 9
    assert found == [
        "docs/how-to/page.md:4:11: ../../../shared/DESIGN.md: leads outside the repository",
        "docs/how-to/page.md:4:53: img/nothing.png: no such file in the repository",
        "docs/how-to/page.md:9:58: ../../../x.md: leads outside the repository",
        "docs/how-to/page.md:11:8: file:///etc/passwd: a file: URL points outside the repository",
    ]
