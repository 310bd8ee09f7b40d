"""Two or three "hosts" on one machine, for multi-node tests and benchmarks.

Each host is a Linux network namespace with loopback up and one interface,
`hv0` (the same name in every host, so that Horovod and Open MPI find a common
interface), holding 10.199.77.<i>/24 (hostA .1, hostB .2, hostC .3). Two hosts
are joined by a veth pair; three by a bridge that lives in an extra "switch"
namespace. Nothing is added to the root namespace, and no namespace has a
route out of the subnet, so no traffic leaves what the fixture made.

Commands run in a host through `ip netns exec`, which bind-mounts every entry
of /etc/netns/<netns>/ over /etc/: the fixture writes there a `hosts` file
(hostA, hostB, ... and localhost) and a whole `ssh/` directory (over
/etc/ssh): sshd host keys made for the test, an sshd_config, the client's
ssh_config, a passwordless ed25519 key made for the test and its
authorized_keys. So a plain `ssh hostB cmd` run inside hostA, as horovodrun
and mpirun run it, logs in as root without a password. Root's own ~/.ssh, if
there is one, is covered by an empty tmpfs inside the hosts, so that neither
ssh nor sshd reads or writes it. Every command also gets its own UTS
namespace whose hostname is the host's name, so `hostname` (and Open MPI's
and Horovod's notion of "node") says hostA, hostB, ... . The filesystem,
users and PIDs are shared: give remote commands absolute paths (an ssh
session has sshd's default PATH and environment; pass variables with
mpirun -x, or let horovodrun forward them).

sshd runs in every host, listening on the host's address and 127.0.0.1, port
22; the client gives up on a dead link within ~15-20 s (ConnectTimeout 10,
ServerAliveInterval 5 x ServerAliveCountMax 3) and sshd drops it as fast.

Usage: `with MultiHost(n=3) as hosts: hosts.run("hostA", ["ssh", "hostB",
"hostname"])`. The tests' fixtures (tests/multihost.py) and the scaling
benchmark (bench/scaling.py) use it. `MultiHost.start()` raises
`Unavailable`, naming why, where the machine cannot make the hosts (not root,
no network namespace support, no sshd or ssh). Teardown kills every process
left in the
namespaces, deletes them and removes /etc/netns/<netns> and the temporary
files, also when a test fails; it is registered with atexit as a fallback,
and namespaces left by a session that died are reaped by the next one.
"""

import atexit
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

SUBNET = "10.199.77"
PREFIX_LEN = 24
IFNAME = "hv0"
HOST_NAMES = ("hostA", "hostB", "hostC")
NETNS_ETC = "/etc/netns"
SSHD = "/usr/sbin/sshd"
# sshd's privilege separation directory (compiled in); the openssh-server
# package makes it at boot, so where it is missing it is made and left.
PRIVSEP_DIR = "/run/sshd"
REQUIRED_TOOLS = ("ip", "ssh", "ssh-keygen", "unshare", "mount")
# Namespace names: bt<pid of the session>m<instance><letter>; "s" is the
# switch. A name whose pid is no longer alive belongs to a dead session.
_NAME_RE = re.compile(r"^bt(\d+)m(\d+)([a-z])$")
_TMPDIR_RE = re.compile(r"^multihost-(\d+)-")
_instances = itertools.count()

# `sh -c _WRAPPER NAME HIDE CMD...` (run by `ip netns exec` in a new mount
# namespace, by `unshare --uts` in a new UTS namespace): mounts an empty tmpfs
# over directory HIDE unless HIDE is "" (mounts made there do not propagate
# back: `ip netns exec` makes / a slave), sets the hostname to NAME, and
# execs CMD.
_WRAPPER = (
    'name=$0 hide=$1; shift; '
    'if [ -n "$hide" ]; then '
    'mount -t tmpfs -o mode=0700,size=1m multihost "$hide" || exit 125; fi; '
    'printf %s "$name" > /proc/sys/kernel/hostname || exit 125; '
    'exec "$@"')


def _hidden_dir():
  """Root's ~/.ssh (from the password database, as ssh finds it) if it exists.

  Inside the hosts an empty tmpfs covers it, so that neither ssh nor sshd
  reads (config, keys, known_hosts, rc, environment) or writes it.

  Returns:
    The directory, or "" if there is none to hide.
  """
  home = pwd.getpwuid(os.geteuid()).pw_dir
  path = os.path.join(home, ".ssh")
  return path if os.path.isdir(path) else ""


class Unavailable(RuntimeError):
  """This machine cannot make the hosts (the message says why)."""


def _ip(*args, check=True):
  """Runs `ip ARGS`; returns the CompletedProcess (text output)."""
  proc = subprocess.run(["ip"] + list(args), capture_output=True, text=True,
                        timeout=30)
  if check and proc.returncode != 0:
    raise RuntimeError("`ip %s` failed (exit %d): %s" % (
        " ".join(args), proc.returncode, proc.stderr.strip()))
  return proc


def _netns_pids(netns):
  """The pids of every process in network namespace NETNS (maybe none)."""
  proc = _ip("netns", "pids", netns, check=False)
  return [int(p) for p in proc.stdout.split() if p.isdigit()]


def _alive(pid):
  """Whether PID is a live process (a zombie counts as dead)."""
  try:
    with open("/proc/%d/stat" % pid) as f:
      state = f.read().rsplit(")", 1)[1].split()[0]
  except (OSError, IndexError):
    return False
  return state not in ("Z", "X")


def _signal_all(pids, sig):
  for pid in pids:
    try:
      os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
      pass


def _empty_netns(netns, grace=2.0):
  """Kills every process in NETNS: SIGTERM, then SIGKILL after GRACE s."""
  deadline = time.monotonic() + grace
  sig = signal.SIGTERM
  while True:
    pids = [p for p in _netns_pids(netns) if _alive(p)]
    if not pids:
      return
    _signal_all(pids, sig)
    if time.monotonic() > deadline:
      if sig == signal.SIGKILL and time.monotonic() > deadline + 5:
        raise RuntimeError("processes %s in netns %s survive SIGKILL" %
                           (pids, netns))
      sig = signal.SIGKILL
    time.sleep(0.05)


def _delete_netns(netns):
  """Kills what runs in NETNS, deletes it and /etc/netns/NETNS."""
  _empty_netns(netns)
  if os.path.exists(os.path.join("/run/netns", netns)):
    _ip("netns", "delete", netns)
  shutil.rmtree(os.path.join(NETNS_ETC, netns), ignore_errors=True)


def reap_stale():
  """Deletes what sessions that died (SIGKILL: no atexit) left behind.

  Their namespaces (with whatever still runs in them), /etc/netns dirs and
  temporary directories: only names of this module's patterns whose session
  pid is not alive are touched.

  Returns:
    The namespace names deleted.
  """
  names = set()
  for parent in ("/run/netns", NETNS_ETC):
    try:
      names.update(os.listdir(parent))
    except OSError:
      pass
  reaped = []
  for name in sorted(names):
    match = _NAME_RE.match(name)
    if match and not _alive(int(match.group(1))):
      _delete_netns(name)
      reaped.append(name)
  tmp = tempfile.gettempdir()
  for name in os.listdir(tmp):
    match = _TMPDIR_RE.match(name)
    if match and not _alive(int(match.group(1))):
      shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
  return reaped


def _write(path, text, mode=0o644):
  with open(path, "w") as f:
    f.write(text)
  os.chmod(path, mode)


def _keygen(path, comment):
  subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                  comment, "-f", path], check=True, capture_output=True,
                 timeout=30)


class MultiHost:
  """N hosts (network namespaces) joined by one subnet, each running sshd.

  Use as a context manager (`with MultiHost(n=2) as hosts:`), or call
  start() and close(). Host names are hostA, hostB, (hostC); every method
  takes one of them.

  Attributes:
    names: The host names, e.g. ["hostA", "hostB"].
    n: How many hosts.
    tmpdir: A temporary directory for sshd's pid files and logs (and free
      for the test's use); removed at close().
  """

  def __init__(self, n=2, subnet=SUBNET, switch=None, startup_timeout=20.0,
               cpus=None):
    """Describes the hosts; start() makes them.

    Args:
      n: 2 or 3 hosts.
      subnet: The first three octets of the /24 the hosts share.
      switch: Join the hosts by a bridge in a switch namespace (True) or by
        a veth pair (False, 2 hosts only); None: a bridge for 3 hosts.
      startup_timeout: Seconds to wait for each sshd to accept logins.
      cpus: Optional list, per host, of the CPUs it has (a `taskset -c`
        list such as "0" or "0-1"): every command of the host, sshd and its
        sessions included, runs on those CPUs only. None: all of them.
    """
    if cpus is not None and len(cpus) != n:
      raise ValueError("cpus needs one CPU list per host, got %r" % (cpus,))
    self._cpus = list(cpus) if cpus is not None else [None] * n
    self._private = {}  # Host name: [(backing dir, path)] of private_dir().
    if n not in (2, 3):
      raise ValueError("MultiHost makes 2 or 3 hosts, not %r" % (n,))
    self.n = n
    self.names = list(HOST_NAMES[:n])
    self.switch = n > 2 if switch is None else bool(switch)
    if n > 2 and not self.switch:
      raise ValueError("3 hosts need the switch (a bridge)")
    self.subnet = subnet
    self.startup_timeout = startup_timeout
    prefix = "bt%dm%d" % (os.getpid(), next(_instances))
    self._netns = {name: prefix + chr(ord("a") + i)
                   for i, name in enumerate(self.names)}
    self._switch_netns = prefix + "s" if self.switch else None
    self._address = {name: "%s.%d" % (subnet, i + 1)
                     for i, name in enumerate(self.names)}
    self._made = []  # Namespaces created, in order.
    self._sshd = {}  # Host name: Popen of its listening sshd.
    self._popens = []
    self._made_netns_etc = False
    self.tmpdir = None
    self._started = False
    self._closed = False

  # Set-up.

  def __enter__(self):
    if not self._started:
      self.start()
    return self

  def __exit__(self, *exc_info):
    self.close()

  def start(self):
    """Makes the namespaces, links, /etc/netns files and sshds.

    Whatever the error, anything made so far is removed before it is raised.

    Returns:
      self.

    Raises:
      Unavailable: not root, a tool missing, or the kernel or the container
        refuses network namespaces or veth/bridge devices.
      RuntimeError: a later step failed (e.g. sshd did not start; its log is
        in the message).
    """
    if self._started:
      raise RuntimeError("MultiHost.start() called twice")
    self._started = True
    _check_environment()
    atexit.register(self.close)
    try:
      reap_stale()
      self.tmpdir = tempfile.mkdtemp(prefix="multihost-%d-" % os.getpid())
      self._make_namespaces()
      self._write_etc()
      os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
      for name in self.names:
        self.start_sshd(name)
    except BaseException:
      try:
        self.close()
      except RuntimeError:
        pass  # The first error is the one to report.
      raise
    return self

  def _make_namespaces(self):
    """Creates the namespaces, hv0 (veth or bridge ports) and addresses."""
    for netns in list(self._netns.values()) + [self._switch_netns]:
      if netns is None:
        continue
      proc = _ip("netns", "add", netns, check=False)
      if proc.returncode != 0:
        raise Unavailable("cannot create network namespaces: `ip netns add "
                          "%s` failed: %s" % (netns, proc.stderr.strip()))
      self._made.append(netns)
    hosts = [self._netns[name] for name in self.names]
    try:
      if self.switch:
        sw = self._switch_netns
        _ip("-n", sw, "link", "add", "br0", "type", "bridge")
        _ip("-n", sw, "link", "set", "br0", "up")
        for i, netns in enumerate(hosts):
          port = "p%d" % i
          _ip("-n", sw, "link", "add", port, "type", "veth", "peer", "name",
              IFNAME, "netns", netns)
          _ip("-n", sw, "link", "set", port, "master", "br0", "up")
      else:
        _ip("-n", hosts[0], "link", "add", IFNAME, "type", "veth", "peer",
            "name", IFNAME, "netns", hosts[1])
    except RuntimeError as e:
      raise Unavailable("cannot make the hosts' links: %s" % e) from e
    for name in self.names:
      netns = self._netns[name]
      _ip("-n", netns, "link", "set", "lo", "up")
      # IPv4 only: no link-local IPv6 address for MPI or Gloo to pick.
      subprocess.run(["ip", "netns", "exec", netns, "sh", "-c",
                      "echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6" %
                      IFNAME], capture_output=True, timeout=30)
      _ip("-n", netns, "addr", "add", "%s/%d" % (self._address[name],
                                                 PREFIX_LEN), "dev", IFNAME)
      _ip("-n", netns, "link", "set", IFNAME, "up")

  def _write_etc(self):
    """Writes /etc/netns/<netns>/{hosts,ssh/} for every host."""
    client_key = os.path.join(self.tmpdir, "id_ed25519")
    _keygen(client_key, "multihost-test-client")
    with open(client_key + ".pub") as f:
      authorized = f.read()
    hosts = "127.0.0.1\tlocalhost\n" + "".join(
        "%s\t%s\n" % (self._address[name], name) for name in self.names)
    if not os.path.isdir(NETNS_ETC):
      os.makedirs(NETNS_ETC, exist_ok=True)
      self._made_netns_etc = True
    for name in self.names:
      etc = self.etc_dir(name)
      ssh = os.path.join(etc, "ssh")
      os.makedirs(ssh, mode=0o755)
      _write(os.path.join(etc, "hosts"), hosts)
      _keygen(os.path.join(ssh, "ssh_host_ed25519_key"),
              "multihost-test-%s" % name)
      shutil.copyfile(client_key, os.path.join(ssh, "id_ed25519"))
      os.chmod(os.path.join(ssh, "id_ed25519"), 0o600)
      shutil.copyfile(client_key + ".pub", os.path.join(ssh, "id_ed25519.pub"))
      _write(os.path.join(ssh, "authorized_keys"), authorized, 0o600)
      if os.path.exists("/etc/ssh/moduli"):
        shutil.copyfile("/etc/ssh/moduli", os.path.join(ssh, "moduli"))
      _write(os.path.join(ssh, "sshd_config"), self._sshd_config(name))
      _write(os.path.join(ssh, "ssh_config"), self._ssh_config(name))

  def _sshd_config(self, name):
    # The paths under /etc/ssh are this host's (bind-mounted) directory.
    return """\
# Written by tests/multihost.py for %(name)s (netns %(netns)s).
ListenAddress %(address)s:22
ListenAddress 127.0.0.1:22
AddressFamily inet
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile %(pidfile)s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile /etc/ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
# Never ~/.ssh/environment (root's own); pass variables on the command line,
# with mpirun -x or horovodrun's own forwarding.
PermitUserEnvironment no
PermitUserRC no
AcceptEnv LANG LC_*
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
# A client behind a dead link is dropped after ~15 s.
ClientAliveInterval 5
ClientAliveCountMax 3
LoginGraceTime 20
# mpirun and horovodrun open several connections at once.
MaxStartups 100:30:200
MaxSessions 100
LogLevel INFO
Subsystem sftp internal-sftp
""" % dict(name=name, netns=self._netns[name], address=self._address[name],
           pidfile=self._pidfile(name))

  def _ssh_config(self, name):
    return """\
# Written by tests/multihost.py for %(name)s (netns %(netns)s).
Host *
  IdentityFile /etc/ssh/id_ed25519
  IdentitiesOnly yes
  PasswordAuthentication no
  KbdInteractiveAuthentication no
  GSSAPIAuthentication no
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  GlobalKnownHostsFile /dev/null
  CheckHostIP no
  UpdateHostKeys no
  LogLevel ERROR
  # A dead link (or host) is noticed within ~15-20 s.
  ConnectTimeout 10
  ServerAliveInterval 5
  ServerAliveCountMax 3
  SendEnv LANG LC_*
""" % dict(name=name, netns=self._netns[name])

  def _pidfile(self, name):
    return os.path.join(self.tmpdir, "sshd-%s.pid" % name)

  # Queries.

  def netns(self, name):
    """The network namespace's name of host NAME (e.g. "bt123m0a")."""
    return self._netns[self._check(name)]

  @property
  def switch_netns(self):
    """The switch namespace's name (it holds bridge br0), or None (veth)."""
    return self._switch_netns

  def address(self, name):
    """Host NAME's IPv4 address on hv0 (e.g. "10.199.77.2")."""
    return self._address[self._check(name)]

  def etc_dir(self, name):
    """/etc/netns/<netns>: what `ip netns exec` mounts over /etc for NAME."""
    return os.path.join(NETNS_ETC, self.netns(name))

  def sshd_log(self, name):
    """The path of host NAME's sshd log."""
    return os.path.join(self.tmpdir, "sshd-%s.log" % self._check(name))

  def sshd_pid(self, name):
    """The pid of host NAME's listening sshd (None if not running)."""
    proc = self._sshd.get(self._check(name))
    return proc.pid if proc is not None and proc.poll() is None else None

  def host_list(self, slots=1):
    """The hosts in horovodrun/mpirun -H form, e.g. "hostA:1,hostB:1"."""
    return ",".join("%s:%d" % (name, slots) for name in self.names)

  def pids(self, name):
    """The pids of every live process in host NAME's namespace."""
    return [p for p in _netns_pids(self.netns(name)) if _alive(p)]

  def _check(self, name):
    if name not in self._netns:
      raise KeyError("no host %r (the hosts are %s)" % (name, self.names))
    if self._closed:
      raise RuntimeError("MultiHost is closed")
    return name

  # Running things in a host.

  def command(self, name, cmd):
    """The argv that runs CMD in host NAME.

    Args:
      name: A host name.
      cmd: An argv list, or a string for /bin/sh -c.

    Returns:
      `ip netns exec <netns> unshare --uts -- /bin/sh -c <wrapper> NAME
      <~/.ssh or ""> CMD...`: CMD runs in NAME's network namespace, with
      NAME's /etc/hosts and /etc/ssh, an empty ~/.ssh (if root has one), and
      `hostname` answers NAME. The exec chain keeps one pid, so Popen.pid is
      CMD's.
    """
    if isinstance(cmd, str):
      cmd = ["/bin/sh", "-c", cmd]
    cpus = self._cpus[self.names.index(self._check(name))]
    pin = ["taskset", "-c", str(cpus)] if cpus is not None else []
    return (["ip", "netns", "exec", self.netns(name)] + pin +
            ["unshare", "--uts", "--", "/bin/sh", "-c", _WRAPPER, name,
             _hidden_dir()] + list(cmd))

  def private_dir(self, name, path):
    """Gives host NAME a directory of its own at PATH, as a local disk.

    PATH (made if missing) stays shared for every other host, and for
    commands started with run()/popen(); what host NAME's ssh sessions (so
    the processes horovodrun or mpirun start there) see at PATH is instead an
    empty directory of its own, bind-mounted in its sshd's mount namespace.
    The mount is made again if its sshd is started again.

    Returns:
      The directory that backs NAME's PATH (to look at what NAME wrote).
    """
    path = os.path.abspath(path)
    os.makedirs(path, exist_ok=True)
    backing = tempfile.mkdtemp(prefix="private-%s-" % name, dir=self.tmpdir)
    self._private.setdefault(self._check(name), []).append((backing, path))
    self._mount_private(name, backing, path)
    return backing

  def _mount_private(self, name, backing, path):
    pid = self.sshd_pid(name)
    if pid is None:
      raise RuntimeError("host %s has no sshd to give %s to" % (name, path))
    subprocess.run(["nsenter", "-t", str(pid), "-m", "mount", "--bind",
                    backing, path], check=True, capture_output=True,
                   timeout=30)

  def run(self, name, cmd, **kwargs):
    """Runs CMD in host NAME and waits for it (subprocess.run).

    Args:
      name: A host name.
      cmd: An argv list, or a string for /bin/sh -c.
      **kwargs: For subprocess.run. Unless given, the output is captured as
        text (capture_output=True, text=True) and timeout is 120 s.

    Returns:
      The subprocess.CompletedProcess.
    """
    if "stdout" not in kwargs and "stderr" not in kwargs:
      kwargs.setdefault("capture_output", True)
    if not any(k in kwargs for k in ("encoding", "errors",
                                     "universal_newlines")):
      kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 120)
    return subprocess.run(self.command(name, cmd), **kwargs)

  def ssh(self, src, dst, cmd, **kwargs):
    """Runs `ssh DST CMD` in host SRC (see run()); CMD is a shell string."""
    return self.run(src, ["ssh", dst, cmd], **kwargs)

  def popen(self, name, cmd, **kwargs):
    """Starts CMD in host NAME (subprocess.Popen(**kwargs)), not waiting.

    close() kills it if it still runs.
    """
    proc = subprocess.Popen(self.command(name, cmd), **kwargs)
    self._popens.append(proc)
    return proc

  def kill_all(self, name, sig=signal.SIGKILL, keep_sshd=False):
    """Sends SIG to every process in host NAME's namespace.

    Args:
      name: A host name.
      sig: The signal (default SIGKILL: the host "crashes").
      keep_sshd: Spare the listening sshd, so that the host still takes new
        logins (its sessions' processes are signalled all the same).

    Returns:
      The pids signalled.
    """
    keep = self.sshd_pid(name) if keep_sshd else None
    pids = [p for p in self.pids(name) if p != keep]
    _signal_all(pids, sig)
    return pids

  def link(self, name, up=True):
    """Takes host NAME's hv0 up or down (its address stays assigned)."""
    _ip("-n", self.netns(name), "link", "set", IFNAME,
        "up" if up else "down")

  def start_sshd(self, name):
    """Starts sshd in host NAME (if not running) and waits for a login.

    sshd runs in the foreground (-D) as a child of this process, so that
    close() reaps it (a daemon would be left to PID 1, which in a container
    may never reap it); it is in its own session, like a daemon.

    Returns:
      The pid of the listening sshd.

    Raises:
      RuntimeError: sshd exited, or does not take the test key within
        startup_timeout; the message holds its log.
    """
    pid = self.sshd_pid(name)
    if pid:
      return pid
    pidfile = self._pidfile(name)
    if os.path.exists(pidfile):
      os.unlink(pidfile)
    # sshd needs its absolute path (it re-executes itself per connection).
    # It writes the pid file once it listens.
    proc = self.popen(name, [SSHD, "-D", "-f", "/etc/ssh/sshd_config", "-E",
                             self.sshd_log(name)],
                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL, start_new_session=True)
    self._sshd[name] = proc
    deadline = time.monotonic() + self.startup_timeout
    last = None
    while True:
      if proc.poll() is not None:
        raise RuntimeError("sshd in %s exited %d%s" % (
            name, proc.returncode, self._log(name)))
      if os.path.exists(pidfile):
        last = self.run(name, ["ssh", "-o", "ConnectTimeout=2", name,
                               "true"], timeout=15)
        if last.returncode == 0:
          for backing, path in self._private.get(name, []):
            self._mount_private(name, backing, path)
          return proc.pid
      if time.monotonic() > deadline:
        raise RuntimeError("sshd in %s does not take the test key after "
                           "%.0f s (ssh: %s)%s" % (
                               name, self.startup_timeout,
                               last and last.stderr.strip(), self._log(name)))
      time.sleep(0.05)

  def _log(self, name):
    try:
      with open(self.sshd_log(name)) as f:
        return "\nsshd log:\n" + f.read()[-4000:]
    except OSError:
      return ""

  # Teardown.

  def close(self):
    """Kills everything in the namespaces, deletes them and the files.

    Idempotent; also registered with atexit by start().

    Raises:
      RuntimeError: a namespace could not be emptied or deleted (after every
        other one was tried).
    """
    if self._closed:
      return
    self._closed = True
    atexit.unregister(self.close)
    errors = []
    # The sshd listeners last, so that they reap their sessions' processes.
    listeners = [p.pid for p in self._sshd.values() if p.poll() is None]
    for netns in self._made:
      _signal_all([p for p in _netns_pids(netns) if p not in listeners],
                  signal.SIGTERM)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and any(
        _alive(p) and p not in listeners
        for netns in self._made for p in _netns_pids(netns)):
      time.sleep(0.02)
    for netns in self._made:
      try:
        _empty_netns(netns)
      except RuntimeError as e:
        errors.append(str(e))
    for proc in self._popens:
      if proc.poll() is None and proc.pid not in listeners:
        # Started so recently that it had not entered its namespace yet.
        try:
          proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
          proc.kill()
      try:
        proc.wait(timeout=5)
      except subprocess.TimeoutExpired:
        errors.append("pid %d did not exit" % proc.pid)
    for netns in reversed(self._made):
      try:
        _delete_netns(netns)
      except RuntimeError as e:
        errors.append(str(e))
    for netns in self._netns.values():
      shutil.rmtree(os.path.join(NETNS_ETC, netns), ignore_errors=True)
    if self._made_netns_etc:
      try:
        os.rmdir(NETNS_ETC)
      except OSError:
        pass  # Another session's hosts are there.
    if self.tmpdir:
      shutil.rmtree(self.tmpdir, ignore_errors=True)
    if errors:
      raise RuntimeError("MultiHost teardown: " + "; ".join(errors))


def _check_environment():
  """Raises Unavailable naming what this machine lacks for MultiHost."""
  if not os.path.isdir("/proc/self/ns") or not hasattr(os, "geteuid"):
    raise Unavailable("needs Linux namespaces (this is not Linux)")
  if os.geteuid() != 0:
    raise Unavailable("needs root to make network namespaces (euid is %d)" %
                      os.geteuid())
  missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
  if not os.access(SSHD, os.X_OK):
    missing.append(SSHD)
  if missing:
    raise Unavailable("needs %s (Debian: apt-get install iproute2 "
                      "openssh-client openssh-server util-linux)" %
                      ", ".join(missing))
  for target in ("/etc/hosts", "/etc/ssh"):
    if not os.path.exists(target):
      raise Unavailable("needs %s to exist (`ip netns exec` mounts the "
                        "host's own over it)" % target)
