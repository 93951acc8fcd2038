"""The argument parser of `%banana` line commands: its complaints are one UsageError."""

from __future__ import annotations

import argparse

from IPython.core.error import UsageError


class CommandParser(argparse.ArgumentParser):
    """argparse for one `%banana` command: errors become one UsageError with the usage."""

    def __init__(self, command: str, usage: str):
        super().__init__(prog=f"%banana {command}", usage=usage, add_help=False)
        self.allow_abbrev = False

    def error(self, message):
        message = message[0].upper() + message[1:]
        raise UsageError(f"{message}; write %banana {self.usage}.")

    def parse(self, args):
        return self.parse_args([str(a) for a in args])
