"""Marketplace search: safe query terms, a full-text backend per dialect, and the service."""

from proofpix_plugins.marketplace.search.service import (
    SearchQuery,
    SearchResult,
    SearchSort,
    search,
)

__all__ = ["SearchQuery", "SearchResult", "SearchSort", "search"]
