"""Every default setting, written once.

The magic's `Banana` traits, the engine, the client, the store, sweeps and the panel read
their defaults here, so changing one changes it everywhere. (Where the API lives and where
images go, `DEFAULT_BASE_URL` and `DEFAULT_OUTPUT_DIR`, are in `_settings` with their
environment variables.)
"""

from __future__ import annotations

#: the model id when none is given (NANOBANANA_MODEL overrides it, see `default_model`)
DEFAULT_MODEL = "nano-banana-2"
DEFAULT_SIZE = "1:1"
DEFAULT_RESOLUTION = "1K"
#: images per task
DEFAULT_N = 1
#: tasks in flight at once
DEFAULT_CONCURRENCY = 8
#: seconds to wait for one task before giving up (it stays resumable)
DEFAULT_TASK_TIMEOUT = 600.0
#: the longest wait between two polls of a task, in seconds (the contract's guidance)
DEFAULT_MAX_POLL_INTERVAL = 10.0
#: long side of display thumbnails, in pixels
DEFAULT_THUMBNAIL_SIZE = 512
#: sweeps estimated above this many dollars need `--yes`
DEFAULT_BUDGET = 1.00
#: seconds one image's download may take, all attempts included (a stalled image fails
#: well within two minutes and its task stays resumable)
DEFAULT_DOWNLOAD_TIMEOUT = 100.0
#: how many times a failed download is tried again within that time
DEFAULT_DOWNLOAD_RETRIES = 2
