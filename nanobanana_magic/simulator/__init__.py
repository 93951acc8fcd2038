"""A ToAPIs-compatible simulator: real HTTP on loopback, no key, no internet.

It implements the image-task endpoints of ``toapis-contract.md`` (§3–§6, §13.2) and serves
deterministic placeholder images, so the client, the engine and the notebooks can be tested
over real HTTP. It imports nothing else from ``nanobanana_magic``: it is an independent judge
of our client. Importing it is cheap (Pillow is imported only when an image is drawn).

Quick start::

    from nanobanana_magic.simulator import Simulator, SIM_API_KEY
    with Simulator(duration=1.0) as base_url:
        ...  # POST {base_url}/v1/images/generations with "Authorization: Bearer sk-simulator-local"

or from a shell: ``python -m nanobanana_magic.simulator --port 8765``.

Endpoints (API server, ``base_url``)
    ``POST /v1/images/generations``  submit (validation, 422 for ``[policy]`` prompts, balance)
    ``GET  /v1/images/generations/{id}``  poll; 404 for unknown ids and other keys' tasks
    ``POST /v1/uploads/images``  multipart ``file``; JPEG/PNG/WebP/GIF ≤ 10,000,000 bytes
    ``GET  /v1/balance``  contract §6 shape
    ``POST /v1/chat/completions``  image models → 500 ``invalid api type: -1``
    ``GET|POST /_sim/config``, ``GET /_sim/stats``, ``POST /_sim/reset``  admin, no auth
The files server (``files_url``, another port) serves ``/generated/<task>_<i>.png?exp=…&sig=…``
(signed, expiring URLs) and ``/uploads/<id>.<ext>``; it needs no auth.

Task life: ``initial_status`` ("queued") for ``queue_delay`` s (longer if ``max_running`` tasks
are running; waiting tasks start in submit order the moment a slot frees), then
``in_progress`` (or ``unknown_status``) for ``duration`` (± ``duration_jitter``) s, then
``completed`` (``result.data[].url`` × n, top-level ``url`` unless ``top_level_url=False``) or
``failed``. Prompt markers: ``[policy]`` → 422 at submit; ``[fail]`` → ends failed with
``generation_failed``; ``[refuse]`` → ends failed with ``content_policy_violation``.

Faults (probabilities drawn from ``random.Random(seed)``): ``submit_429``, ``submit_503`` (no
task created), ``submit_500`` (task created, then 500), ``submit_drop`` (no task, connection
closed without a response), ``status_429``, ``status_5xx`` (500/502/503 in turn),
``status_drop``, ``status_malformed_json`` (200 with truncated JSON), ``download_drop``,
``task_fail``. Injected 429/503 carry ``Retry-After`` = ``retry_after``. ``download_fail_first``
fails the first GET of each result file with 500. ``url_ttl`` makes result URLs expire (404
"File expired"); each poll of a completed task signs fresh URLs. ``rate_limit`` enforces the
§8.1 windows (``submit_limits``/``query_limits``); would-be violations are always counted.
``balance`` (dollars, ``prices`` per tier) → 402, or 403 with ``quota_status=403``.
Hostile files: ``result_kind`` ``"jpeg"``, ``"not_image"``, ``"bomb"``, ``"huge"``
(``huge_bytes``); ``redirect_files_to`` answers file GETs with 302 to another base;
``deliver_size`` / ``deliver_resolution`` deliver that aspect ratio / tier whatever was asked.
``photo_folder`` serves photographs from that folder instead of drawn placeholders (for
measuring thumbnail and notebook sizes on real-looking images).
Auth: ``api_keys=None`` accepts any ``Bearer sk-…``; a set accepts only those keys.
What a real gateway may decide differently (contract §12): ``max_n`` (1: a task of n > 1
images is refused with a 400 naming ``n``), ``accepted_models`` (others refused with a 400,
or with a 503 ``model_not_found`` when ``model_refusal_status=503``), ``result_field``
(where a completed task's image URLs are: ``result.data``, ``result.images``, ``data``,
``output``, ``url_list`` — a bare list in ``url`` —, ``ambiguous`` — two lists that
disagree — or ``nowhere``), ``rate_limit_headers`` (``X-RateLimit-Limit``/``-Remaining``/
``-Reset`` on admitted answers too, with ``rate_limit``; ``rate_limit_reset`` ``seconds``
or ``epoch``).

``stats()`` keys: ``tasks_created``, ``submit_requests``, ``status_requests``, ``downloads``
(result-file GETs), ``uploads`` (upload requests), ``rate_limit_violations``,
``faults_injected`` {knob: count}, ``tasks`` {id: {prompt, status, polls, created_at,
started_at, finished_at, seen_done_at (the first status query that found it done),
downloads, n, resolution, size}} (tasks created since the last reset; times are
``time.time()`` floats, ``None`` until reached), and ``headers`` {"api": [...],
"files": [...]}: the last 500 requests' headers per server, names lower-cased, plus the
pseudo-headers ``:method`` and ``:path``.
"""

from .config import SIM_API_KEY, SimulatorConfig
from .images import render_placeholder
from .simulator import Simulator

__all__ = ["SIM_API_KEY", "Simulator", "SimulatorConfig", "render_placeholder"]
