"""A stored run as the exact request for production code: Python, curl or JSON.

The key is never written out: the snippets read it from TOAPIS_API_KEY. Local reference
files appear as the URLs they were uploaded to (from the journal) when known.

Everything taken from the run's manifest is untrusted (the folder may have been edited):
Python embeds values with `repr` and is parsed back with `ast` to check it has exactly the
intended shape; curl quotes every value with `shlex.quote`; the base URL must pass the
same checks as TOAPIS_BASE_URL, and one that is not a ToAPIs host is stated in a comment,
since the exported code sends the key there.
"""

from __future__ import annotations

import ast
import json
import pprint
import shlex
from urllib.parse import urlparse

from ._errors import BananaError, ValidationError
from ._references import ReferenceResolver
from ._request import is_url
from ._run import image_origin
from ._settings import DEFAULT_BASE_URL, is_loopback, resolve_base_url

_TOAPIS_DOMAIN = "toapis.com"


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
        address = image_origin(ref)
        origin = f" (image #{address.index} of run {address.run_id})" if address else ""
        lines.append(f"#   {ref!r}{origin}")  # repr: a stored path cannot end the comment
    return "\n".join(lines) + "\n"


def _base_url(run) -> str:
    """The API the run was made with (the default for simulator runs), checked like
    TOAPIS_BASE_URL: https (http only on loopback), scheme and host only."""
    if not run.base_url or is_loopback(urlparse(str(run.base_url)).hostname):
        return DEFAULT_BASE_URL
    try:
        return resolve_base_url(str(run.base_url))
    except BananaError:
        raise ValidationError(
            f"Run {run.run_id} names the base URL {str(run.base_url)[:80]!r}, which is not a "
            "usable API address; export it from a folder you trust or fix its manifest."
        ) from None


def _host_note(base: str) -> str:
    host = urlparse(base).hostname or ""
    if host == _TOAPIS_DOMAIN or host.endswith("." + _TOAPIS_DOMAIN):
        return ""
    return f"# NOTE: {host} is not a ToAPIs host; this code sends TOAPIS_API_KEY there.\n"


def export_request(run, store, kind: str = "python") -> str:
    payload = _payload(run, store)
    needed = _needed_files(run)
    base = _base_url(run)
    if kind == "json":
        return json.dumps(payload, indent=2, ensure_ascii=False)
    if kind == "curl":
        return needed + _curl(base, payload)
    return _python(run.run_id, base, payload, needed)


def _curl(base: str, payload: dict) -> str:
    note = _host_note(base)
    submit = shlex.quote(f"{base}/v1/images/generations")
    poll = shlex.quote(f"{base}/v1/images/generations/")
    return (
        note + f"curl -sS -X POST {submit} \\\n"
        f'  -H "Authorization: Bearer $TOAPIS_API_KEY" \\\n'
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(json.dumps(payload, ensure_ascii=False))}\n"
        f'# then poll: curl -sS {poll}"$TASK_ID" '
        f'-H "Authorization: Bearer $TOAPIS_API_KEY"'
    )


_PYTHON = """\
# A run exported by nanobanana-magic
{note}{needed}import os, time, httpx

RUN_ID = {run_id}
BASE_URL = {base}
headers = {{"Authorization": f"Bearer {{os.environ['TOAPIS_API_KEY']}}"}}
payload = {payload}

with httpx.Client(base_url=BASE_URL, headers=headers, timeout=30) as api:
    task = api.post("/v1/images/generations", json=payload).raise_for_status().json()
    while task["status"] not in ("completed", "failed"):
        time.sleep(5)
        task = api.get(f"/v1/images/generations/{{task['id']}}").raise_for_status().json()
if task["status"] == "failed":
    raise RuntimeError(task.get("error"))
for i, item in enumerate(task["result"]["data"]):
    # result files need no key: fetch them without the Authorization header
    with open(f"{{RUN_ID}}-{{i}}.png", "wb") as fh:
        fh.write(httpx.get(item["url"], timeout=60).raise_for_status().content)
"""
#: how many statements the template has: an export with any other number is refused
_STATEMENTS = len(
    ast.parse(_PYTHON.format(note="", needed="", run_id="''", base="''", payload="{}")).body
)


def _python(run_id: str, base: str, payload: dict, needed: str = "") -> str:
    values = {"RUN_ID": str(run_id), "BASE_URL": base, "payload": payload}
    code = _PYTHON.format(
        note=_host_note(base),
        needed=needed,
        run_id=repr(values["RUN_ID"]),
        base=repr(base),
        payload=pprint.pformat(payload, sort_dicts=False, width=88),
    )
    _check_shape(code, values)
    return code


def _check_shape(code: str, values: dict) -> None:
    """The exported code parses to the template's statements, and each value assignment
    holds exactly the intended value: nothing from the manifest became code."""
    tree = ast.parse(code)
    assigned = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    if len(tree.body) != _STATEMENTS or any(
        name not in assigned or ast.literal_eval(assigned[name]) != value
        for name, value in values.items()
    ):
        raise ValidationError(
            "This run's stored values do not export cleanly as Python; use --as json."
        )
