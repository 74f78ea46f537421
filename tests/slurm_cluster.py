"""A throwaway one-node SLURM cluster on localhost, for the real-scheduler test.

``munged``, ``slurmctld`` and ``slurmd`` (Debian's ``munge`` and ``slurm-wlm``) run in the
foreground as children of this process, with everything under one folder: ``slurm.conf``,
the munge key and socket, controller state, the node's spool, pid files and logs (munged
wants every folder above its socket open to all, so the folder is a fresh one in the system's
temporary folder, not pytest's private ``tmp_path``; it is removed after the stop). The two
ports are free ones picked at start, so clusters of several sessions do not collide.
Commands reach this cluster, and only it, through :attr:`SlurmCluster.env` (``SLURM_CONF``).

:meth:`SlurmCluster.stop` cancels the cluster's jobs, waits for them to end, then stops the
three daemons by the pids it started them with (SIGTERM, then SIGKILL after a grace period),
and finally any job process left over, recognised by this cluster's ``SLURM_CONF`` in its
environment. Used as a context manager it stops the cluster also when the body raises; and
should this process be killed outright, the kernel sends the daemons SIGTERM
(``PR_SET_PDEATHSIG``), so they do not outlive it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

#: The programs the cluster and the test need.
PROGRAMS = (
  'munged',
  'slurmctld',
  'slurmd',
  'sbatch',
  'squeue',
  'scontrol',
  'scancel',
  'sinfo',
  'flock',
)
PACKAGES_HINT = (
  "install Debian's packages as root: apt-get install -y slurm-wlm munge "
  '(.ci/run does this when it runs as root)'
)
PARTITION = 'debug'
NODE = 'velobench-node'

SLURM_CONF = """\
ClusterName=velobench
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket},cred_expire={cred_expire}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait={kill_wait}
MinJobAge=3600
NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def missing_reason() -> Optional[str]:
  """Why the cluster cannot start here (None when it can)."""
  if os.geteuid() != 0:
    return 'the throwaway SLURM cluster runs its daemons and jobs as root; not root here'
  missing = [p for p in PROGRAMS if shutil.which(p) is None]
  if missing:
    return f'{", ".join(missing)} not found: {PACKAGES_HINT}'
  return None


def free_port() -> int:
  """A TCP port that nothing listens on right now (the kernel's pick)."""
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class SlurmCluster:
  """One controller and one node on localhost, rooted at ``root`` (see the module docstring)."""

  def __init__(self, cpus: int = 2, kill_wait: int = 2, cred_expire: int = 5):
    self.root = Path(tempfile.mkdtemp(prefix='velobench-slurm-')).resolve()
    os.chmod(self.root, 0o755)
    self.cpus, self.kill_wait, self.cred_expire = cpus, kill_wait, cred_expire
    self.conf = self.root / 'slurm.conf'
    self.munge_socket = self.root / 'run' / 'munge.socket'
    self.daemons: Dict[str, subprocess.Popen] = {}
    self.env = {**os.environ, 'SLURM_CONF': str(self.conf)}

  # ---- start and stop ------------------------------------------------------------------------

  def start(self, timeout: float = 90.0) -> 'SlurmCluster':
    for sub in ('munge', 'run', 'state', 'spool', 'log'):
      (self.root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(self.root / 'munge', 0o700)  # the key: private
    os.chmod(self.root / 'run', 0o755)  # the socket: munged wants its folder reachable by all
    key = self.root / 'munge' / 'munge.key'
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    self.conf.write_text(
      SLURM_CONF.format(
        host=socket.gethostname().split('.')[0],
        ctld_port=free_port(),
        slurmd_port=free_port(),
        munge_socket=self.munge_socket,
        cred_expire=self.cred_expire,
        root=self.root,
        kill_wait=self.kill_wait,
        node=NODE,
        cpus=self.cpus,
        partition=PARTITION,
      )
    )
    self._spawn(
      'munged',
      [
        'munged',
        '--foreground',
        f'--socket={self.munge_socket}',
        f'--key-file={key}',
        f'--pid-file={self.root}/munge/munged.pid',
        f'--log-file={self.root}/log/munged.log',
        f'--seed-file={self.root}/munge/munged.seed',
      ],
    )
    self._wait(lambda: self.munge_socket.exists(), timeout, 'munged to open its socket')
    self._spawn('slurmctld', ['slurmctld', '-D', '-c', '-f', str(self.conf)])
    self._wait(
      lambda: self.run('scontrol', 'ping', check=False).returncode == 0,
      timeout,
      'slurmctld to answer scontrol ping',
    )
    self._spawn('slurmd', ['slurmd', '-D', '-N', NODE, '-f', str(self.conf)])
    self._wait(self._node_idle, timeout, f'node {NODE} to become idle')
    return self

  def stop(self, timeout: float = 60.0) -> None:
    """Cancel every job, wait for them to end, stop the daemons, then stray job processes."""
    if 'slurmctld' in self.daemons and self.daemons['slurmctld'].poll() is None:
      self.run('scancel', '--full', f'--user={os.getuid()}', check=False)
      with contextlib.suppress(TimeoutError):
        self._wait(lambda: not self.queue(), timeout, 'the jobs to end')
    for name in ('slurmd', 'slurmctld', 'munged'):
      process = self.daemons.pop(name, None)
      if process is not None:
        _terminate(process)
    for pid in self.stray_job_processes():
      with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(self.root, ignore_errors=True)

  def __enter__(self) -> 'SlurmCluster':
    try:
      return self.start()
    except BaseException:
      self.stop()
      raise

  def __exit__(self, *exc) -> None:
    self.stop()

  def stray_job_processes(self) -> List[int]:
    """Pids of live processes (job steps, their children) whose environment names this
    cluster's ``SLURM_CONF``; never this process."""
    marker = f'SLURM_CONF={self.conf}'.encode()
    found = []
    for entry in Path('/proc').iterdir():
      if not entry.name.isdigit() or int(entry.name) == os.getpid():
        continue
      with contextlib.suppress(OSError):
        if marker in (entry / 'environ').read_bytes().split(b'\0'):
          found.append(int(entry.name))
    return found

  # ---- commands ------------------------------------------------------------------------------

  def run(
    self, *command: str, check: bool = True, timeout: float = 60.0
  ) -> subprocess.CompletedProcess:
    """A SLURM command against this cluster (text output captured)."""
    result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
      raise RuntimeError(
        f'{" ".join(command)} failed ({result.returncode}): '
        f'{result.stderr.strip() or result.stdout.strip()}'
      )
    return result

  def sbatch(self, *args: str) -> str:
    """Submit; the job id."""
    return self.run('sbatch', '--parsable', *args).stdout.strip().split(';')[0]

  def queue(self) -> List[str]:
    """Ids of the jobs (array tasks one by one) that are pending, running or completing."""
    out = self.run('squeue', '-h', '-r', '-o', '%i', check=False).stdout
    return out.split()

  def states(self, *job_ids: str) -> Dict[str, str]:
    """``{job or array-task id: state}`` for jobs the controller still remembers."""
    out = self.run(
      'squeue', '-h', '-r', '--states=all', '-j', ','.join(job_ids), '-o', '%i %T'
    ).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())

  def jobs_named(self, name: str) -> List[str]:
    out = self.run('squeue', '-h', '--states=all', f'--name={name}', '-o', '%i').stdout
    return out.split()

  def wait_ended(self, *job_ids: str, timeout: float) -> Dict[str, str]:
    """Wait until none of the jobs is pending, running or completing; their final states."""
    live = {
      'PENDING',
      'RUNNING',
      'CONFIGURING',
      'COMPLETING',
      'REQUEUED',
      'RESIZING',
      'SUSPENDED',
      'REQUEUE_HOLD',
      'REQUEUE_FED',
    }
    self._wait(
      lambda: not live & set(self.states(*job_ids).values()),
      timeout,
      f'jobs {", ".join(job_ids)} to end',
      self.logs,
    )
    return self.states(*job_ids)

  def logs(self) -> str:
    """The tails of the daemons' logs (for failure messages)."""
    parts = []
    for name in ('slurmctld.log', 'slurmd.log', 'munged.log', 'munged.stdout'):
      path = self.root / 'log' / name
      if path.is_file():
        parts.append(f'--- {path}\n' + '\n'.join(path.read_text().splitlines()[-25:]))
    return '\n'.join(parts)

  # ---- internals -----------------------------------------------------------------------------

  def _spawn(self, name: str, command: List[str]) -> None:
    log = open(self.root / 'log' / f'{name}.stdout', 'ab')
    self.daemons[name] = subprocess.Popen(
      command,
      env=self.env,
      stdout=log,
      stderr=subprocess.STDOUT,
      stdin=subprocess.DEVNULL,
      preexec_fn=_terminate_with_parent,
    )
    log.close()

  def _node_idle(self) -> bool:
    out = self.run('sinfo', '-h', '-N', '-o', '%t', check=False).stdout.split()
    return out == ['idle']

  def _wait(self, ready, timeout: float, what: str, details=None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
      dead = [n for n, p in self.daemons.items() if p.poll() is not None]
      if dead or time.monotonic() > deadline:
        cause = f'{", ".join(dead)} exited' if dead else f'{timeout:.0f} s passed'
        raise TimeoutError(f'waiting for {what}: {cause}\n{(details or self.logs)()}')
      time.sleep(0.25)


PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when its parent dies


def _terminate_with_parent() -> None:
  """In the child before exec: SIGTERM when the process that started it dies."""
  ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _terminate(process: subprocess.Popen, grace: float = 10.0) -> None:
  if process.poll() is not None:
    return
  process.terminate()
  try:
    process.wait(grace)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()
