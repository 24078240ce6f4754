"""What every corpus reader shares: its errors, line iteration and the skipped-line report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


class DataFormatError(ValueError):
    """Bad input in a corpus file; the message names the file, the 1-based line and the fix."""


class DataNotFoundError(FileNotFoundError):
    """A corpus file or folder is missing; the message says where the reader looked."""


class DataDownloadError(RuntimeError):
    """The ECD sample could not be downloaded, or its sha256 did not match."""


def require_file(path: Path, what: str) -> None:
    if not path.is_file():
        where = "a folder, not a file" if path.is_dir() else "no such file"
        raise DataNotFoundError(f"{what} not found: looked for {path.resolve()} ({where})")


@dataclass
class Problems:
    """Collects skipped lines (strict=False) or raises at the first one (strict=True)."""

    path: Path
    strict: bool
    messages: list[str] = field(default_factory=list)

    def report(self, line: int, what: str) -> None:
        msg = f"{self.path}:{line}: {what}"
        if self.strict:
            raise DataFormatError(msg + " (pass strict=False to skip and count such lines)")
        self.messages.append(msg)

    def lines(self) -> Iterator[tuple[int, str]]:
        """The file's non-blank lines as (1-based line number, text); a line that is not valid
        UTF-8 is reported (raised, or skipped and counted) instead of yielded."""
        raw_lines = self.path.read_bytes().split(b"\n")
        if raw_lines and raw_lines[-1] == b"":
            raw_lines.pop()
        for i, raw in enumerate(raw_lines, 1):
            try:
                text = raw.removesuffix(b"\r").decode("utf-8")
            except UnicodeDecodeError as e:
                self.report(i, f"invalid UTF-8 at byte {e.start} of the line; re-save it as UTF-8")
                continue
            if text.strip():
                yield i, text
