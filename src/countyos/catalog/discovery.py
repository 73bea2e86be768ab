"""Catalog search: find datasets by Chinese or English words in their metadata."""

from __future__ import annotations

from sqlalchemy.orm import Session

from countyos.catalog.datasets import list_datasets
from countyos.catalog.search import SearchDocument, SearchIndex
from countyos.db.models import Dataset


def _document(dataset: Dataset) -> SearchDocument:
    columns = " ".join(
        f"{c.name} {c.description_zh or ''} {c.description_en or ''}" for c in dataset.columns
    )
    return SearchDocument(
        key=dataset.name,
        fields={
            "name": dataset.name,
            "title": f"{dataset.title_zh} {dataset.title_en}",
            "description": f"{dataset.description_zh} {dataset.description_en} "
                           f"{dataset.department.name_zh} {dataset.department.name_en}",
            "columns": columns,
        },
    )


def search_datasets(session: Session, query: str, *, limit: int = 20) -> list[tuple[Dataset, float]]:
    """Datasets best matching ``query``, best first, with their scores."""
    datasets = {d.name: d for d in list_datasets(session)}
    index = SearchIndex(_document(d) for d in datasets.values())
    return [(datasets[key], score) for key, score in index.search(query, limit=limit)]
