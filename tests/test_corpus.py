"""Tests for bert_tf.corpus and prepare_corpus.py (corpus preparation).

Expectations about the real dump excerpt come from reading the XML directly
with the standard library, not from the module under test.
"""

import bz2
import json
import os
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from bert_tf import corpus

from conftest import ROOT
from conftest import shared_path

_NS = "{http://www.mediawiki.org/xml/export-0.10/}"
_DISAMBIGUATION = re.compile(
    r"\{\{\s*(disambiguation|disambig|dab|hndis|geodis|set index article)"
    r"\s*[|}]", re.IGNORECASE)


def read_dump_directly(path):
  """(title, namespace, is_redirect, text) of every page of the dump."""
  pages = []
  with bz2.open(path, "rb") as reader:
    for _, element in ET.iterparse(reader):
      if element.tag == _NS + "page":
        title = element.find(_NS + "title").text
        namespace = int(element.find(_NS + "ns").text)
        redirect = element.find(_NS + "redirect") is not None
        text = element.find(_NS + "revision/" + _NS + "text").text or ""
        pages.append((title, namespace, redirect, text))
        element.clear()
  return pages


def read_documents(paths):
  """Documents (lists of lines) of pretraining-format text files."""
  documents = []
  for path in paths:
    text = pathlib.Path(path).read_text("utf-8")
    documents.extend(block.split("\n") for block in text.split("\n\n")
                     if block.strip())
  return documents


def test_wikipedia_dump_excerpt(tmp_path):
  dump = shared_path("data", "corpus", "wikipedia", "enwiki-sample.xml.bz2")
  pages = read_dump_directly(str(dump))
  assert len(pages) == 206
  articles = [(t, text) for t, ns, redirect, text in pages
              if ns == 0 and not redirect]
  expected = {t for t, text in articles
              if not t.endswith("(disambiguation)") and
              not _DISAMBIGUATION.search(text)}
  kept = []
  paths, stats = corpus.prepare_corpus(
      str(dump), str(tmp_path / "wiki-%d.txt"), num_shards=3, min_chars=0,
      on_document=lambda title, sentences: kept.append(title))
  # Every namespace-0 non-redirect article once, except those with no prose
  # at all (e.g. a page that is only a list).
  assert len(kept) == len(set(kept))
  empty = stats.skipped.get("empty after cleaning", 0)
  assert set(kept) <= expected and len(expected - set(kept)) == empty <= 2
  assert stats.skipped["redirect"] == sum(r for _, ns, r, _ in pages if ns == 0)
  assert stats.skipped["not an article (namespace 4)"] == 1
  assert stats.skipped["disambiguation"] == len(articles) - len(expected)
  assert stats.read == 206 and stats.kept == len(kept)
  text = "".join(pathlib.Path(p).read_text("utf-8") for p in paths)
  for markup in ("{{", "}}", "[[", "]]", "<ref", "|}", "{|", "</", "==",
                 "[http", "Category:", "thumb|"):
    assert markup not in text, markup
  documents = read_documents(paths)
  assert len(documents) == stats.kept
  assert sum(len(d) for d in documents) == stats.sentences > 10000
  sizes = [os.path.getsize(p) for p in paths]
  assert max(sizes) - min(sizes) < 0.05 * max(sizes)
  assert sorted(os.listdir(tmp_path)) == ["wiki-0.txt", "wiki-1.txt",
                                          "wiki-2.txt"]
  # Headings are dropped; prose stays, one sentence per line.
  lines = set(text.split("\n"))
  assert ("Anarchism is a political philosophy that advocates self-governed "
          "societies based on voluntary institutions.") in lines
  assert "History" not in lines and "References" not in lines


def test_clean_wikitext():
  text = """{{Infobox thing|name=X}}
'''Foo''' (born 1900{{efn|a note}}) is a [[bar (baz)|bar]] of [[Qux]].<ref name="a">Cite</ref> It is [http://x.org big].<!-- hidden -->
[[File:Foo.jpg|thumb|A caption with [[link]].]]

== History ==
In 1900, ''Foo'' was made &amp; sold.<ref>{{cite web|url=x}}</ref>
{| class="wikitable"
|-
| a || b
|}
* a list item
# another

=== Early ===
Text after a table.<br/>
== See also ==
Some link farm.
=== Sub of see also ===
Still dropped.
== Legacy ==
It lasted.
[[Category:Things]]
[[de:Foo]]
__NOTOC__"""
  paragraphs, _ = corpus.clean_wikitext(text)
  assert paragraphs == [
      "Foo (born 1900) is a bar of Qux. It is big.",
      "In 1900, Foo was made & sold.",
      "Text after a table.",
      "It lasted.",
  ]


def test_disambiguation_and_redirect_detection():
  import mwparserfromhell  # pylint: disable=g-import-not-at-top
  assert corpus.is_disambiguation("Foo (disambiguation)",
                                  mwparserfromhell.parse("x"))
  assert corpus.is_disambiguation("Foo",
                                  mwparserfromhell.parse("x\n{{Disambig}}"))
  assert corpus.is_disambiguation(
      "Foo", mwparserfromhell.parse("{{Place name disambiguation}}"))
  assert not corpus.is_disambiguation("Foo", mwparserfromhell.parse("{{Foo}}"))


def write_json_corpus(path, records):
  path.write_text("".join(json.dumps(r) + "\n" for r in records),
                  encoding="utf-8")
  return str(path)


def json_records(num):
  return [{"id": str(i), "title": "Doc %d" % i,
           "text": "Doc %d\n\nThis is document %d. It has two sentences.\n"
                   "A second paragraph of document %d is here." % (i, i, i)}
          for i in range(num)]


def test_json_lines_filters_dedup_and_shards(tmp_path):
  records = json_records(40)
  records.append(dict(records[3], id="copy"))  # same article twice
  records.append({"title": "Short", "text": "Short\n\nTiny."})
  path = write_json_corpus(tmp_path / "wiki_00", records)

  def run(name, **kwargs):
    paths, stats = corpus.prepare_corpus(
        path, str(tmp_path / name / "c"), num_shards=3, min_chars=30,
        dedup=True, **kwargs)
    return [pathlib.Path(p).read_bytes() for p in paths], paths, stats

  first, paths, stats = run("a")
  assert [os.path.basename(p) for p in paths] == [
      "c-00000-of-00003", "c-00001-of-00003", "c-00002-of-00003"]
  assert stats.read == 42 and stats.kept == 40
  assert stats.skipped == {"duplicate": 1, "shorter than 30 characters": 1}
  documents = read_documents(paths)
  assert len(documents) == 40
  assert sorted(documents)[0] == ["This is document 0.", "It has two sentences.",
                                  "A second paragraph of document 0 is here."]
  assert max(map(len, first)) - min(map(len, first)) < 200
  assert run("b")[0] == first
  assert run("c", num_workers=2)[0] == first
  assert run("d", seed=1)[0] != first


def test_bad_input_names_file_and_line(tmp_path):
  path = tmp_path / "bad.jsonl"
  path.write_text('{"text": "ok"}\n{"text": broken\n', encoding="utf-8")
  with pytest.raises(ValueError, match=r"bad\.jsonl:2: not a JSON object"):
    corpus.prepare_corpus(str(path), str(tmp_path / "out.txt"))
  assert sorted(os.listdir(tmp_path)) == ["bad.jsonl"]  # nothing half-written
  with pytest.raises(FileNotFoundError, match="No input matches"):
    corpus.prepare_corpus(str(tmp_path / "none*.xml"), str(tmp_path / "o"))
  xml = tmp_path / "dump.xml"
  xml.write_text("<notxml", encoding="utf-8")
  with pytest.raises(ValueError, match=r"dump\.xml: not a MediaWiki XML dump"):
    corpus.prepare_corpus(str(xml), str(tmp_path / "o.txt"))


def test_books_script(tmp_path):
  books = tmp_path / "books"
  books.mkdir()
  (books / "one.txt").write_text(
      "THE BOOK\n\nCHAPTER I\n\nMr. Darcy came. Dr. Watson\nleft at once.\n\n"
      "\"Why?\" said he. It was late.\n\nCHAPTER II\n\nA new chapter "
      "starts here, and it is long enough to keep.\n", encoding="utf-8")
  (books / "two.txt").write_text(
      "Another book without chapters, with one sentence. And another "
      "sentence that makes it long enough.\n", encoding="utf-8")
  command = [sys.executable, str(ROOT / "prepare_corpus.py"),
             "--input=%s" % books, "--output=%s" % (tmp_path / "out.txt"),
             "--min_chars=40"]
  result = subprocess.run(command, cwd=str(ROOT), capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "documents_kept: 3" in result.stdout
  assert "skipped (shorter than 40 characters): 1" in result.stdout
  documents = read_documents([tmp_path / "out.txt"])
  assert sorted(documents) == sorted([
      ["Mr. Darcy came.", "Dr. Watson left at once.", "\"Why?\" said he.",
       "It was late."],
      ["A new chapter starts here, and it is long enough to keep."],
      ["Another book without chapters, with one sentence.",
       "And another sentence that makes it long enough."],
  ])
  bad = subprocess.run(command[:2] + ["--input=%s" % (tmp_path / "nope"),
                                      "--output=%s" % (tmp_path / "x")],
                       cwd=str(ROOT), capture_output=True, text=True,
                       timeout=120)
  assert bad.returncode == 1 and "error: No input matches" in bad.stderr
