"""Download the released VeLO checkpoint: ``python -m velo.download [--url URL] [--out PATH]``.

The arguments are checked first: ``--timeout`` a positive number of seconds, ``--out`` a
file that can be written (``bench_core.arguments``), so that nothing is downloaded in vain.

Streams the file with ``urllib`` to a temporary file in the destination
folder (progress bar on stderr), checks its size (9,282,564 bytes for the
released wrapper record; 9,282,507 bytes plus the git blob id for a bare
theta file), validates it with :func:`velo.load_theta`, then moves it into
place with ``os.replace``. On any failure no file is left behind.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from bench_core import arguments
from bench_core.cli import run_main
from velo.checkpoint import default_cache_path, load_theta
from velo.theta_spec import (
  RELEASE_BARE_BYTES,
  RELEASE_BARE_GIT_BLOB,
  RELEASE_URL,
  RELEASE_WRAPPER_BYTES,
)

CHUNK_BYTES = 1 << 16


class DownloadError(RuntimeError):
  """The download failed or the file did not pass the integrity checks."""


def git_blob_id(data: bytes) -> str:
  """``sha1(b"blob <size>\\0" + data)``, the id git gives the file's content."""
  return hashlib.sha1(b'blob %d\0' % len(data) + data).hexdigest()


def _progress(done: int, total: int | None, stream) -> None:
  if total:
    width = 40
    filled = int(width * done / total)
    stream.write(f'\r[{"#" * filled}{"." * (width - filled)}] {done}/{total} bytes')
  else:
    stream.write(f'\r{done} bytes')
  stream.flush()


def _fetch(url: str, timeout: float, progress_stream) -> bytes:
  try:
    with urllib.request.urlopen(url, timeout=timeout) as response:
      length = response.headers.get('Content-Length')
      total = int(length) if length and length.isdigit() else None
      chunks, done = [], 0
      while True:
        chunk = response.read(CHUNK_BYTES)
        if not chunk:
          break
        chunks.append(chunk)
        done += len(chunk)
        if progress_stream is not None:
          _progress(done, total, progress_stream)
  except (urllib.error.URLError, OSError, ValueError) as exc:
    raise DownloadError(f'could not download {url}: {exc}') from exc
  finally:
    if progress_stream is not None:
      progress_stream.write('\n')
  data = b''.join(chunks)
  if total is not None and len(data) != total:
    raise DownloadError(f'{url}: truncated download, got {len(data)} of {total} bytes')
  return data


def check_integrity(
  data: bytes,
  expected_bytes: int | None = None,
  expected_git_blob: str | None = RELEASE_BARE_GIT_BLOB,
) -> None:
  """Size check, and the git blob id for a bare-layout file.

  Without ``expected_bytes`` the size must be that of the released wrapper
  or of the bare theta file. ``expected_git_blob`` applies when the size is
  that of the bare layout; ``None`` skips it.
  """
  size = len(data)
  allowed = (
    (expected_bytes,) if expected_bytes is not None else (RELEASE_WRAPPER_BYTES, RELEASE_BARE_BYTES)
  )
  if size not in allowed:
    raise DownloadError(f'unexpected size {size} bytes (expected {" or ".join(map(str, allowed))})')
  if size == RELEASE_BARE_BYTES and expected_git_blob:
    blob = git_blob_id(data)
    if blob != expected_git_blob:
      raise DownloadError(f'git blob id {blob} does not match the expected {expected_git_blob}')


def download(
  url: str = RELEASE_URL,
  out: str | os.PathLike | None = None,
  expected_bytes: int | None = None,
  expected_git_blob: str | None = RELEASE_BARE_GIT_BLOB,
  timeout: float = 60.0,
  progress_stream=sys.stderr,
) -> Path:
  """Download, check and atomically write the checkpoint; returns its path."""
  out_path = Path(out) if out is not None else default_cache_path()
  data = _fetch(url, timeout, progress_stream)
  check_integrity(data, expected_bytes, expected_git_blob)
  out_path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp_name = tempfile.mkstemp(prefix=f'.{out_path.name}.', suffix='.part', dir=out_path.parent)
  try:
    with os.fdopen(fd, 'wb') as tmp:
      tmp.write(data)
      tmp.flush()
      os.fsync(tmp.fileno())
    try:
      load_theta(tmp_name)
    except Exception as exc:
      raise DownloadError(f'{url}: downloaded file is not a valid VeLO checkpoint: {exc}') from exc
    os.replace(tmp_name, out_path)
  except BaseException:
    if os.path.exists(tmp_name):
      os.unlink(tmp_name)
    raise
  return out_path


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
    prog='python -m velo.download', description='Download the VeLO checkpoint.'
  )
  parser.add_argument('--url', default=RELEASE_URL)
  parser.add_argument('--out', default=None, help=f'destination (default {default_cache_path()})')
  parser.add_argument('--expected_bytes', type=arguments.count(1), default=None)
  parser.add_argument(
    '--expected_git_blob',
    default=RELEASE_BARE_GIT_BLOB,
    help="git blob id required for a bare-layout file ('' to skip)",
  )
  parser.add_argument(
    '--timeout', type=arguments.positive_float, default=60.0, help='seconds (default 60)'
  )
  args = parser.parse_args(argv)
  arguments.check_writable(args.out if args.out is not None else default_cache_path(), '--out')
  try:
    path = download(
      args.url, args.out, args.expected_bytes, args.expected_git_blob or None, args.timeout
    )
  except DownloadError as exc:
    print(f'velo.download: error: {exc}', file=sys.stderr)
    return 1
  print(
    f'VeLO checkpoint written to {path}; use it with VELO_CHECKPOINT={path} or the default cache.'
  )
  return 0


if __name__ == '__main__':
  raise SystemExit(run_main(main))
