"""A stored run as the exact request for production code: Python, curl or JSON.

The key is never written out: the snippets read it from TOAPIS_API_KEY. Local reference
files appear as the URLs they were uploaded to (from the journal) when known.
"""

from __future__ import annotations

import json
import pprint
import shlex
from urllib.parse import urlparse

from ._references import ReferenceResolver
from ._request import is_url
from ._run import stored_image_address
from ._settings import DEFAULT_BASE_URL, is_loopback


def _payload(run, store) -> dict:
    # a simulator's uploads are no use to production code: those files need uploading
    simulated = is_loopback(urlparse(run.base_url).hostname)
    resolver = ReferenceResolver(store, None if simulated else run.base_url)
    return resolver.preview_payload(
        run.request, placeholder=lambda ref: f"<upload {ref} to /v1/uploads/images first>"
    )


def _needed_files(run) -> str:
    """Comment lines naming the local reference files the production call needs."""
    local = [ref for ref in run.request.reference_images if not is_url(ref)]
    if not local:
        return ""
    lines = ["# Reference files this request needs (upload each, or give a public URL):"]
    for ref in local:
        address = stored_image_address(ref)
        origin = f" (image #{address.index} of run {address.run_id})" if address else ""
        lines.append(f"#   {ref}{origin}")
    return "\n".join(lines) + "\n"


def export_request(run, store, kind: str = "python") -> str:
    payload = _payload(run, store)
    needed = _needed_files(run)
    host = urlparse(run.base_url).hostname
    base = DEFAULT_BASE_URL if not run.base_url or is_loopback(host) else run.base_url
    body = json.dumps(payload, indent=2, ensure_ascii=False)
    if kind == "json":
        return body
    if kind == "curl":
        return needed + (
            f"curl -sS -X POST {base}/v1/images/generations \\\n"
            f'  -H "Authorization: Bearer $TOAPIS_API_KEY" \\\n'
            f"  -H 'Content-Type: application/json' \\\n"
            f"  -d {shlex.quote(json.dumps(payload, ensure_ascii=False))}\n"
            f"# then poll: curl -sS {base}/v1/images/generations/<id> "
            f'-H "Authorization: Bearer $TOAPIS_API_KEY"'
        )
    return f'''# Run {run.run_id}, exported by nanobanana-magic
{needed}import os, time, httpx

BASE_URL = "{base}"
headers = {{"Authorization": f"Bearer {{os.environ['TOAPIS_API_KEY']}}"}}
payload = {pprint.pformat(payload, sort_dicts=False, width=88)}

with httpx.Client(base_url=BASE_URL, headers=headers, timeout=30) as api:
    task = api.post("/v1/images/generations", json=payload).raise_for_status().json()
    while task["status"] not in ("completed", "failed"):
        time.sleep(5)
        task = api.get(f"/v1/images/generations/{{task['id']}}").raise_for_status().json()
if task["status"] == "failed":
    raise RuntimeError(task.get("error"))
for i, item in enumerate(task["result"]["data"]):
    # result files need no key: fetch them without the Authorization header
    with open(f"{run.run_id}-{{i}}.png", "wb") as fh:
        fh.write(httpx.get(item["url"], timeout=60).raise_for_status().content)
'''
