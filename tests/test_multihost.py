"""The multi-host fixture (bert_tf/localhosts.py, tests/multihost.py) itself.

ssh between the hosts is passwordless and really runs in the other host's
network namespace; the names resolve in every host; three hosts talk across
the bridge; the client reads only the host's /etc/ssh and never root's
~/.ssh; a host's link goes down and up; and teardown (normal, on an error,
at exit, or of a session that died) leaves no namespace, /etc/netns dir,
sshd or temporary file behind. The tests skip, saying why, where the machine
cannot make the hosts, and fail instead under CI (`CI=true`).
"""
# pylint: disable=redefined-outer-name

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time

import pytest

import multihost as multihost_lib
from bert_tf import localhosts
from multihost import multihost  # pylint: disable=unused-import
from multihost import multihost3  # pylint: disable=unused-import

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT_SSH = os.path.join(pwd.getpwuid(os.geteuid()).pw_dir, ".ssh")


def _ok(proc):
  """PROC's stdout, asserting that it exited 0."""
  assert proc.returncode == 0, (proc.args, proc.returncode, proc.stdout,
                                proc.stderr)
  return proc.stdout


def _netns_inode(hosts, name, via=None):
  """The network namespace of a shell in host NAME (reached over ssh from
  host VIA if given), as /proc/self/ns/net's link text."""
  cmd = "readlink /proc/self/ns/net"
  if via:
    return _ok(hosts.ssh(via, name, cmd)).strip()
  return _ok(hosts.run(name, cmd)).strip()


def _tree_state(path):
  """Names, sizes and mtimes under PATH (None if it does not exist)."""
  if not os.path.lexists(path):
    return None
  state = {}
  for root, dirs, files in os.walk(path):
    for entry in [root] + [os.path.join(root, n) for n in dirs + files]:
      st = os.lstat(entry)
      state[entry] = (st.st_mode, st.st_size, st.st_mtime_ns)
  return state


def _describe(hosts):
  """What a MultiHost made, to look for afterwards."""
  return dict(netns=[hosts.netns(n) for n in hosts.names] +
              ([hosts.switch_netns] if hosts.switch_netns else []),
              etc=[hosts.etc_dir(n) for n in hosts.names],
              sshd=[hosts.sshd_pid(n) for n in hosts.names],
              tmpdir=hosts.tmpdir)


def _leftovers(made):
  """What of MADE (from _describe) still exists."""
  listed = subprocess.run(["ip", "netns", "list"], capture_output=True,
                          text=True, check=True).stdout.split()
  left = [ns for ns in made["netns"] if ns in listed or
          os.path.exists(os.path.join("/run/netns", ns))]
  left += [d for d in made["etc"] if os.path.exists(d)]
  left += ["sshd %d" % p for p in made["sshd"]
           if p and localhosts._alive(p)]  # pylint: disable=protected-access
  if os.path.exists(made["tmpdir"]):
    left.append(made["tmpdir"])
  return left


def test_ssh_between_hosts_is_passwordless_and_runs_remotely(multihost):
  """`ssh hostB cmd` from hostA (and back) logs in with the test key alone
  (BatchMode: no prompt could be answered) and CMD runs in the other host:
  its hostname, its hv0 address and its network namespace."""
  hosts = multihost
  assert hosts.names == ["hostA", "hostB"]
  for src, dst in (("hostA", "hostB"), ("hostB", "hostA")):
    out = _ok(hosts.ssh(src, dst, "hostname; ip -o -4 addr show hv0"))
    lines = out.splitlines()
    assert lines[0] == dst
    assert " %s/24 " % hosts.address(dst) in lines[1], out
    assert hosts.address(src) not in out
    # The remote shell shares the namespace of the target host's sshd, not
    # the caller's and not the root namespace's.
    remote = _netns_inode(hosts, dst, via=src)
    assert remote == os.readlink("/proc/%d/ns/net" % hosts.sshd_pid(dst))
    assert remote == _netns_inode(hosts, dst)
    assert remote not in (_netns_inode(hosts, src),
                          os.readlink("/proc/self/ns/net"))
  assert _ok(hosts.run("hostA", ["hostname"])).strip() == "hostA"


def test_host_names_resolve_in_every_host(multihost):
  """hostA and hostB resolve to their hv0 addresses in both hosts, from the
  host's own /etc/hosts; the machine's /etc/hosts is untouched."""
  hosts = multihost
  for src in hosts.names:
    for dst in hosts.names:
      out = _ok(hosts.run(src, ["getent", "hosts", dst])).split()
      assert out[:2] == [hosts.address(dst), dst]
    assert _ok(hosts.run(src, ["getent", "hosts", "localhost"])).split()[0] \
        == "127.0.0.1"
  with open("/etc/hosts") as f:
    assert "hostB" not in f.read()


def test_ssh_reads_the_hosts_config_and_never_roots_dot_ssh(multihost):
  """Inside hostA, /etc/ssh is hostA's directory and a plain `ssh` takes its
  options from it (key, no known_hosts, batch mode, keep-alives); root's
  ~/.ssh is neither opened (strace) nor changed."""
  hosts = multihost
  before = _tree_state(ROOT_SSH)
  ssh_dir = os.path.join(hosts.etc_dir("hostA"), "ssh")
  with open(os.path.join(ssh_dir, "ssh_config")) as f:
    assert _ok(hosts.run("hostA", ["cat", "/etc/ssh/ssh_config"])) == f.read()
  options = {}
  for line in _ok(hosts.run("hostA", ["ssh", "-G", "hostB"])).splitlines():
    key, _, value = line.partition(" ")
    options.setdefault(key, []).append(value)
  assert options["identityfile"] == ["/etc/ssh/id_ed25519"]
  assert options["userknownhostsfile"] == ["/dev/null"]
  assert options["stricthostkeychecking"] == ["false"]
  assert options["batchmode"] == ["yes"]
  assert options["passwordauthentication"] == ["no"]
  assert options["loglevel"] == ["ERROR"]
  assert options["connecttimeout"] == ["10"]
  assert options["serveraliveinterval"] == ["5"]
  assert options["serveralivecountmax"] == ["3"]
  if shutil.which("strace"):
    traced = hosts.run("hostA", ["strace", "-f", "-e", "trace=%file", "ssh",
                                 "hostB", "true"])
    assert traced.returncode == 0, traced.stderr[-3000:]
    files = [line for line in traced.stderr.splitlines() if '"/' in line]
    assert any('"/etc/ssh/ssh_config"' in line and "ENOENT" not in line
               for line in files), files
    assert any('"/etc/ssh/id_ed25519"' in line for line in files), files
    # ssh looks for ~/.ssh/config: inside the hosts an empty tmpfs covers
    # root's ~/.ssh (or there is none), so the attempt finds nothing.
    for line in files:
      if '"%s' % ROOT_SSH in line:
        assert "ENOENT" in line, line
  assert _tree_state(ROOT_SSH) == before


def test_processes_links_and_kill_all(multihost):
  """pids() sees what runs in a host only; kill_all(keep_sshd=True) spares
  the listening sshd; a link taken down makes the host unreachable at once
  and reachable again when it comes back up."""
  hosts = multihost
  sleeper = hosts.popen("hostB", ["sleep", "60"])
  try:
    # Popen returns once `ip` runs; it enters hostB's namespace just after.
    deadline = time.monotonic() + 10
    while sleeper.pid not in hosts.pids("hostB"):
      assert time.monotonic() < deadline, "the sleeper never entered hostB"
      time.sleep(0.02)
    assert sleeper.pid not in hosts.pids("hostA")
    assert hosts.sshd_pid("hostB") in hosts.pids("hostB")
    killed = hosts.kill_all("hostB", signal.SIGTERM, keep_sshd=True)
    assert sleeper.pid in killed and hosts.sshd_pid("hostB") not in killed
    assert sleeper.wait(timeout=10) == -signal.SIGTERM
  finally:
    if sleeper.poll() is None:
      sleeper.kill()
      sleeper.wait()
  probe = "timeout 3 bash -c '</dev/tcp/hostB/22'"
  _ok(hosts.run("hostA", probe))
  hosts.link("hostB", up=False)
  try:
    assert "state DOWN" in _ok(hosts.run("hostB", "ip link show hv0"))
    assert hosts.run("hostA", probe).returncode != 0
  finally:
    hosts.link("hostB", up=True)
  deadline = time.monotonic() + 10
  while hosts.run("hostA", probe).returncode != 0:
    assert time.monotonic() < deadline, "hostB unreachable after link up"
    time.sleep(0.1)
  assert _ok(hosts.ssh("hostA", "hostB", "hostname")).strip() == "hostB"


def test_three_hosts_talk_across_the_bridge(multihost3):
  """hostA, hostB and hostC reach each other over ssh through br0 in the
  switch namespace; the root namespace gets no device or address."""
  hosts = multihost3
  assert hosts.names == ["hostA", "hostB", "hostC"]
  for src in hosts.names:
    for dst in hosts.names:
      if src != dst:
        assert _ok(hosts.ssh(src, dst, "hostname")).strip() == dst
  ports = subprocess.run(["ip", "-n", hosts.switch_netns, "-o", "link",
                          "show", "master", "br0"], capture_output=True,
                         text=True, check=True).stdout
  assert len(ports.splitlines()) == 3, ports
  root_links = subprocess.run(["ip", "-o", "addr"], capture_output=True,
                              text=True, check=True).stdout
  assert "hv0" not in root_links and "br0" not in root_links
  assert localhosts.SUBNET + "." not in root_links
  assert _ok(hosts.run("hostC", "ip -o -4 route")).split()[0] == (
      localhosts.SUBNET + ".0/24"), "a host must have no other route"


def test_teardown_leaves_nothing_even_after_an_error():
  """close() (here by `with` on an exception) kills what runs in the hosts
  (sshd and a stray process) and removes the namespaces, /etc/netns dirs and
  temporary files."""
  hosts = multihost_lib.start_multihost(3)
  with pytest.raises(ZeroDivisionError):
    with hosts:
      made = _describe(hosts)
      stray = hosts.popen("hostC", ["sleep", "60"])
      assert all(made["sshd"])
      assert len(_leftovers(made)) == 4 + 3 + 3 + 1  # Everything exists.
      1 / 0  # pylint: disable=pointless-statement
  assert stray.poll() is not None
  assert not _leftovers(made)
  hosts.close()  # Idempotent.


_CHILD = """
import json, os, sys
sys.path.insert(0, %r)
import multihost
hosts = multihost.MultiHost(n=2).start()
print(json.dumps(dict(netns=[hosts.netns(n) for n in hosts.names],
                      etc=[hosts.etc_dir(n) for n in hosts.names],
                      sshd=[hosts.sshd_pid(n) for n in hosts.names],
                      tmpdir=hosts.tmpdir)), flush=True)
if sys.argv[1] == "exit":
  sys.exit(0)  # atexit closes the hosts.
os._exit(0)  # No atexit: the next session must reap them.
""" % TESTS


@pytest.mark.parametrize("how", ["exit", "die"])
def test_atexit_and_reaping_clean_up_a_session_that_did_not_close(how,
                                                                  multihost):
  """A session that exits without close() is cleaned up by atexit; one that
  dies without atexit leaves its hosts, which reap_stale() (run by the next
  start()) deletes, leaving other sessions' hosts alone."""
  del multihost  # Started first: its hosts must survive the reaping.
  proc = subprocess.run([sys.executable, "-c", _CHILD, how],
                        capture_output=True, text=True, timeout=60)
  assert proc.returncode == 0, proc.stderr
  made = json.loads(proc.stdout.splitlines()[-1])
  if how == "exit":
    assert not _leftovers(made)
    return
  assert _leftovers(made)
  try:
    reaped = localhosts.reap_stale()
  finally:
    for netns in made["netns"]:
      localhosts._delete_netns(netns)  # pylint: disable=protected-access
    shutil.rmtree(made["tmpdir"], ignore_errors=True)
  assert sorted(reaped) == sorted(made["netns"])
  assert not _leftovers(made)


def test_still_usable_after_reaping(multihost):
  """The module's hosts (another live session's, as far as reaping goes)
  were left alone."""
  assert _ok(multihost.ssh("hostA", "hostB", "hostname")).strip() == "hostB"


@pytest.mark.parametrize("ci", [None, "true"])
def test_unavailable_skips_or_fails_under_ci(ci, monkeypatch):
  """Where the hosts cannot be made the fixtures skip, naming why; under
  CI=true they fail with the same reason."""
  if ci:
    monkeypatch.setenv("CI", ci)
  else:
    monkeypatch.delenv("CI", raising=False)
  monkeypatch.setattr(localhosts.os, "geteuid", lambda: 1000)
  with pytest.raises(localhosts.Unavailable, match="needs root"):
    localhosts._check_environment()  # pylint: disable=protected-access
  expected = pytest.fail.Exception if ci else pytest.skip.Exception
  with pytest.raises(expected, match="needs root to make network namespaces"):
    multihost_lib.start_multihost(2)
  monkeypatch.setattr(localhosts.os, "geteuid", lambda: 0)
  monkeypatch.setattr(localhosts, "SSHD", "/nonexistent/sshd")
  with pytest.raises(expected, match="needs .*/nonexistent/sshd"):
    multihost_lib.start_multihost(2)


def test_a_refused_netns_add_is_unavailable(monkeypatch):
  """`ip netns add` failing (no permission or no netns support in a
  container) is reported as such, and nothing is left behind."""
  multihost_lib.require_environment()
  real_ip = localhosts._ip  # pylint: disable=protected-access

  def refusing_ip(*args, check=True):
    if args[:2] == ("netns", "add"):
      return subprocess.CompletedProcess(args, 1, "", "mount --make-shared "
                                         "/run/netns failed: Operation not "
                                         "permitted")
    return real_ip(*args, check=check)

  monkeypatch.setattr(localhosts, "_ip", refusing_ip)
  hosts = localhosts.MultiHost(n=2)
  with pytest.raises(localhosts.Unavailable,
                     match="cannot create network namespaces: `ip netns add "
                     "bt.*Operation not permitted"):
    hosts.start()
  assert hosts.tmpdir and not os.path.exists(hosts.tmpdir)
