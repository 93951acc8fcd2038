"""Reference image → URL, in one place for runs, dry runs and exports.

A reference is an http(s) URL (sent as given) or a local file. A local file is sent as the
URL it was uploaded to: found in the journal by content hash and API host when it was
uploaded before, else uploaded once per batch, however many jobs use it. Dry runs and
exports never upload: they show the known URL or a placeholder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ._request import ImageRequest, file_sha256, is_url
from ._store import Store


def upload_placeholder(reference: str) -> str:
    """What a preview shows for a local file that still has to be uploaded."""
    return f"<upload of {Path(reference).name}>"


class ReferenceResolver:
    """Finds the URL of each reference of the requests sent to one API.

    `base_url` is the API the uploads belong to; None means no earlier upload is usable
    (e.g. the simulator's, for an exported request), so every local file needs one.
    """

    def __init__(self, store: Store, base_url: str | None):
        self.store = store
        self.base_url = base_url
        self._uploads: dict[str, asyncio.Future[str]] = {}  # one upload per file per batch

    def known_url(self, reference: str) -> str | None:
        """The reference's URL without uploading anything, or None when unknown."""
        if is_url(reference):
            return reference
        if self.base_url is None:
            return None
        try:
            return self.store.uploaded_url(file_sha256(reference), self.base_url)
        except OSError:  # the file went away since: a preview shows the placeholder
            return None

    def preview_payload(
        self,
        request: ImageRequest,
        placeholder: Callable[[str], str] = upload_placeholder,
    ) -> dict[str, Any]:
        """The body a dry run or an export shows: known URLs, placeholders for uploads."""
        urls = [self.known_url(ref) or placeholder(ref) for ref in request.reference_images]
        return request.to_payload(urls)

    async def url(self, reference: str, upload: Callable[[str], Awaitable[str]]) -> str:
        """The reference's URL for a real request, calling `upload(path)` when needed
        (once per content hash, shared by every job of the batch, journaled)."""
        if is_url(reference):
            return reference
        sha = await asyncio.to_thread(file_sha256, reference)
        if sha not in self._uploads:
            self._uploads[sha] = asyncio.ensure_future(self._upload(reference, sha, upload))
        return await asyncio.shield(self._uploads[sha])  # one job's cancel must not stop the rest

    async def _upload(
        self, reference: str, sha: str, upload: Callable[[str], Awaitable[str]]
    ) -> str:
        url = None
        if self.base_url is not None:
            url = await asyncio.to_thread(self.store.uploaded_url, sha, self.base_url)
        if url is None:
            url = await upload(reference)
            self.store.journal(
                "uploaded", sha256=sha, url=url, base_url=self.base_url, name=Path(reference).name
            )
        return url
