"""Files hosted on Google Drive: the large-file confirmation page and the quota page.

Drive answers a download of a file too large to virus-scan with an HTML page whose form leads to
the file (``drive.usercontent.google.com/download`` with ``id``, ``export``, ``confirm`` and
``uuid``; older pages put ``confirm=<token>`` in a link). A file downloaded too often answers with
a page saying so ("Too many users have viewed or downloaded this file recently"; "Quota
exceeded"): nothing to do but wait, or fetch it another way.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin

QUOTA_PHRASES = ("too many users have viewed or downloaded this file", "quota exceeded", "download quota")


class _DownloadLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.confirm_link: str | None = None
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and (values.get("id") == "download-form" or "download" in values.get("action", "")):
            self.action, self._in_form = values.get("action"), True
        elif tag == "input" and self._in_form and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")
        elif tag == "a" and "confirm=" in values.get("href", "") and self.confirm_link is None:
            self.confirm_link = values["href"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def quota_exceeded(page: str) -> bool:
    """Whether Drive's page says the file's download quota is used up."""
    text = page.lower()
    return any(phrase in text for phrase in QUOTA_PHRASES)


def confirmation_url(page: str, page_url: str) -> str | None:
    """The URL the confirmation page's form (or link) leads to; None if the page has neither."""
    links = _DownloadLinks()
    links.feed(page)
    if links.action:
        return urljoin(page_url, links.action) + "?" + urlencode(links.fields)
    if links.confirm_link:
        return urljoin(page_url, links.confirm_link.replace("&amp;", "&"))
    return None
