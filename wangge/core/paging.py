"""Pages of API lists that convert only the rows of the requested page."""

from __future__ import annotations

from collections.abc import Callable


class MappedPage:
    """A queryset that django-ninja's paginator counts and slices; each slice becomes answers
    through ``fn`` (a list of rows → a list), so only the page's rows are converted —
    decrypted and masked, for personal data."""

    def __init__(self, qs, fn: Callable[[list], list]) -> None:
        self.qs, self.fn = qs, fn

    def count(self) -> int:
        return self.qs.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        return self.fn(list(self.qs[item]))
