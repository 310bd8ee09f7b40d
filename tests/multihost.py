"""pytest fixtures of hosts on this machine (`bert_tf.localhosts.MultiHost`).

Usage, in a test module (importing the fixtures makes pytest find them):

    from multihost import multihost  # pylint: disable=unused-import

    def test_something(multihost):
      out = multihost.run("hostA", ["ssh", "hostB", "hostname"], check=True)
      assert out.stdout.strip() == "hostB"

The fixtures skip, naming why, where the machine cannot make the hosts (not
root, no network namespace support, no sshd or ssh); under CI (`CI=true`)
they fail instead, because CI must run the multi-host tests.
"""

import os

import pytest

# pylint: disable-next=wildcard-import,unused-wildcard-import
from bert_tf.localhosts import *  # noqa: F401,F403  (the tests read its names)
from bert_tf.localhosts import MultiHost
from bert_tf.localhosts import Unavailable
from bert_tf.localhosts import _check_environment


def require_environment():
  """Skips (fails under CI) unless this machine can make hosts.

  The cheap checks only (root, tools); MultiHost.start() also finds out
  whether the kernel lets it make namespaces and links.
  """
  try:
    _check_environment()
  except Unavailable as e:
    _unavailable(str(e))


def _unavailable(message):
  """pytest.skip(MESSAGE), or pytest.fail under CI (CI=true)."""
  message = "multi-host tests: " + message
  if os.environ.get("CI", "").lower() == "true":
    pytest.fail(message + "; CI (CI=true) must run them", pytrace=False)
  pytest.skip(message)


def start_multihost(n=2, **kwargs):
  """MultiHost(n, **kwargs).start(), skipping (or failing) as the fixtures do.

  For a test's own fixture with other arguments; close() the result.
  """
  try:
    return MultiHost(n, **kwargs).start()
  except Unavailable as e:
    _unavailable(str(e))


@pytest.fixture(scope="module")
def multihost():
  """Two hosts, hostA and hostB, joined by a veth pair (one per module)."""
  hosts = start_multihost(2)
  try:
    yield hosts
  finally:
    hosts.close()


@pytest.fixture(scope="module")
def multihost3():
  """Three hosts, hostA, hostB and hostC, on a bridge (one per module)."""
  hosts = start_multihost(3)
  try:
    yield hosts
  finally:
    hosts.close()
