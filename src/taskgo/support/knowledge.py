"""The pt-BR help corpus shipped in `corpus/` and a BM25 search over it.

Each article is a Markdown file with a header of `key: value` lines between `---` lines
(`id`, `title`, `topic`, `keywords`) followed by the body.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Words too common in Portuguese questions to tell articles apart.
_STOPWORDS = frozenset(
    """a o as os um uma uns umas de do da dos das no na nos nas em para pra por pelo pela
    com sem que se e ou mas meu minha meus minhas seu sua seus suas eu voce voces ele ela
    isso esse essa este esta como qual quais quando onde porque por que nao sim ja ainda
    ao aos ta tem ter foi ser esta estou estao sobre me te lhe favor ola oi bom dia boa
    tarde noite obrigado obrigada the to is my how what""".split()
)
# BM25 parameters (standard defaults from the Okapi literature).
_K1 = 1.5
_B = 0.75
# Stems are word prefixes: "rastrear", "rastreio" and "rastreamento" share "rastr".
_STEM_LENGTH = 5


@dataclass(frozen=True, slots=True)
class HelpArticle:
    id: str
    title: str
    topic: str
    keywords: tuple[str, ...]
    body: str

    def summary(self, max_chars: int = 900) -> str:
        """Return the body cut at a paragraph boundary near `max_chars`."""
        if len(self.body) <= max_chars:
            return self.body
        paragraphs = self.body.split("\n\n")
        kept: list[str] = []
        size = 0
        for paragraph in paragraphs:
            if kept and size + len(paragraph) > max_chars:
                break
            kept.append(paragraph)
            size += len(paragraph) + 2
        return "\n\n".join(kept)


@dataclass(frozen=True, slots=True)
class SearchHit:
    article: HelpArticle
    score: float


def fold(text: str) -> str:
    """Lower-case `text` and strip accents, so "informação" matches "informacao"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def tokenize(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", fold(text))
    return [word[:_STEM_LENGTH] for word in words if word not in _STOPWORDS and len(word) > 1]


def parse_article(source: str, *, name: str) -> HelpArticle:
    match = re.match(r"\A---\n(.*?)\n---\n(.*)\Z", source, re.DOTALL)
    if match is None:
        raise ValueError(f"help article {name} must start with a --- header block")
    fields: dict[str, str] = {}
    for line in match.group(1).splitlines():
        key, separator, value = line.partition(":")
        if not separator:
            raise ValueError(f"help article {name}: header line without a colon: {line!r}")
        fields[key.strip()] = value.strip()
    missing = {"id", "title", "topic", "keywords"} - fields.keys()
    if missing:
        raise ValueError(f"help article {name} lacks header fields {sorted(missing)}")
    keywords = tuple(word.strip() for word in fields["keywords"].split(",") if word.strip())
    return HelpArticle(
        id=fields["id"],
        title=fields["title"],
        topic=fields["topic"],
        keywords=keywords,
        body=match.group(2).strip(),
    )


@lru_cache
def load_corpus() -> tuple[HelpArticle, ...]:
    folder = resources.files("taskgo.support") / "corpus"
    articles = [
        parse_article(entry.read_text(encoding="utf-8"), name=entry.name)
        for entry in sorted(folder.iterdir(), key=lambda item: item.name)
        if entry.name.endswith(".md")
    ]
    ids = [article.id for article in articles]
    if len(set(ids)) != len(ids):
        raise ValueError("help article ids must be unique")
    return tuple(articles)


class HelpIndex:
    """BM25 over title, keywords and body; the title and keywords count several times."""

    def __init__(self, articles: tuple[HelpArticle, ...]) -> None:
        self.articles = articles
        self._documents: list[Counter[str]] = []
        for article in articles:
            terms = (
                tokenize(article.title) * 2
                + tokenize(" ".join(article.keywords)) * 3
                + tokenize(article.body)
            )
            self._documents.append(Counter(terms))
        lengths = [sum(document.values()) for document in self._documents]
        self._lengths = lengths
        self._average_length = sum(lengths) / max(1, len(lengths))
        frequency: Counter[str] = Counter()
        for document in self._documents:
            frequency.update(document.keys())
        count = len(self._documents)
        self._idf = {
            term: math.log(1 + (count - seen + 0.5) / (seen + 0.5))
            for term, seen in frequency.items()
        }

    def search(self, query: str, *, limit: int = 3, min_score: float = 1.0) -> list[SearchHit]:
        terms = set(tokenize(query))
        hits: list[SearchHit] = []
        for article, document, length in zip(
            self.articles, self._documents, self._lengths, strict=True
        ):
            score = 0.0
            for term in terms:
                frequency = document.get(term, 0)
                if not frequency:
                    continue
                norm = _K1 * (1 - _B + _B * length / self._average_length)
                score += self._idf[term] * frequency * (_K1 + 1) / (frequency + norm)
            if score >= min_score:
                hits.append(SearchHit(article=article, score=score))
        # Ties break on the article id so the same question always gets the same answer.
        hits.sort(key=lambda hit: (-hit.score, hit.article.id))
        return hits[:limit]

    def get(self, article_id: str) -> HelpArticle | None:
        return next((article for article in self.articles if article.id == article_id), None)


@lru_cache
def help_index() -> HelpIndex:
    return HelpIndex(load_corpus())
