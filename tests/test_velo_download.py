"""``python -m velo.download`` against a loopback HTTP server (only 127.0.0.1 is contacted)."""

from __future__ import annotations

import http.server
import io
import threading
from typing import ClassVar

import pytest
from conftest import GOLDEN_THETA

from velo import download as dl

pytestmark = pytest.mark.skipif(
  not GOLDEN_THETA.is_file(),
  reason=f'golden theta not found at {GOLDEN_THETA} (set VELO_GOLDEN_DIR)',
)


class _Handler(http.server.BaseHTTPRequestHandler):
  files: ClassVar[dict] = {}

  def do_GET(self):
    entry = self.files.get(self.path)
    if entry is None:
      self.send_error(404)
      return
    body, claimed_length = entry
    self.send_response(200)
    self.send_header('Content-Length', str(claimed_length))
    self.end_headers()
    self.wfile.write(body)  # may be shorter than claimed: a truncated transfer

  def log_message(self, *args):
    pass


@pytest.fixture(scope='module')
def server():
  data = GOLDEN_THETA.read_bytes()
  _Handler.files = {
    '/theta.state': (data, len(data)),
    '/truncated': (data[:1_000_000], len(data)),
    '/short_but_honest': (data[:1_000_000], 1_000_000),
  }
  httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{httpd.server_address[1]}', data
  httpd.shutdown()
  httpd.server_close()


def test_git_blob_id():
  assert dl.git_blob_id(b'') == 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
  assert dl.git_blob_id(b'hello\n') == 'ce013625030ba8dba906f756967f9e9ca394464a'


def test_success_bare_layout(server, tmp_path):
  base, data = server
  out = tmp_path / 'cache' / 'velo_theta.msgpack'
  progress = io.StringIO()
  path = dl.download(
    f'{base}/theta.state', out, expected_git_blob=dl.git_blob_id(data), progress_stream=progress
  )
  assert path == out and out.read_bytes() == data
  assert f'{len(data)}/{len(data)} bytes' in progress.getvalue()
  assert sorted(p.name for p in out.parent.iterdir()) == ['velo_theta.msgpack']


def test_bare_layout_with_wrong_blob_id_is_rejected(server, tmp_path):
  base, _ = server
  out = tmp_path / 'velo_theta.msgpack'
  # the golden file is a random meta-init, not the released weights
  with pytest.raises(dl.DownloadError, match='git blob id'):
    dl.download(f'{base}/theta.state', out, progress_stream=None)
  assert not out.exists() and list(tmp_path.iterdir()) == []


def test_truncated_download_leaves_no_file(server, tmp_path):
  base, _ = server
  out = tmp_path / 'velo_theta.msgpack'
  with pytest.raises(dl.DownloadError):
    dl.download(f'{base}/truncated', out, expected_git_blob=None, timeout=10, progress_stream=None)
  assert list(tmp_path.iterdir()) == []


def test_wrong_size_is_rejected(server, tmp_path):
  base, _ = server
  out = tmp_path / 'velo_theta.msgpack'
  with pytest.raises(dl.DownloadError, match='unexpected size 1000000'):
    dl.download(f'{base}/short_but_honest', out, progress_stream=None)
  assert list(tmp_path.iterdir()) == []


def test_invalid_content_of_right_size_is_rejected(server, tmp_path):
  base, _ = server
  out = tmp_path / 'velo_theta.msgpack'
  with pytest.raises(dl.DownloadError, match='not a valid VeLO checkpoint'):
    dl.download(
      f'{base}/short_but_honest',
      out,
      expected_bytes=1_000_000,
      expected_git_blob=None,
      progress_stream=None,
    )
  assert list(tmp_path.iterdir()) == []


def test_cli_wrong_url(server, tmp_path, capsys):
  base, _ = server
  out = tmp_path / 'velo_theta.msgpack'
  rc = dl.main(['--url', f'{base}/no/such/file', '--out', str(out)])
  assert rc == 1
  err = capsys.readouterr().err
  assert 'could not download' in err and '404' in err
  assert not out.exists()


def test_cli_success(server, tmp_path, capsys):
  base, data = server
  out = tmp_path / 'velo_theta.msgpack'
  rc = dl.main(
    [
      '--url',
      f'{base}/theta.state',
      '--out',
      str(out),
      '--expected_bytes',
      str(len(data)),
      '--expected_git_blob',
      dl.git_blob_id(data),
    ]
  )
  assert rc == 0 and out.read_bytes() == data
  assert str(out) in capsys.readouterr().out
