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
from xml.sax import saxutils

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


_EXPORT_HEADER = (
    '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.10/ '
    'http://www.mediawiki.org/xml/export-0.10.xsd" version="0.10" '
    'xml:lang="en">\n')
_SITEINFO = """  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>enwiki</dbname>
    <base>https://en.wikipedia.org/wiki/Main_Page</base>
    <generator>MediaWiki 1.41.0</generator>
    <case>first-letter</case>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="1" case="first-letter">Talk</namespace>
      <namespace key="2" case="first-letter">User</namespace>
    </namespaces>
  </siteinfo>
"""

# (title, namespace, redirect target or None, wikitext) of a small export.
_EXPORT_PAGES = [
    ("Alpha Centauri", 0, None, """{{Short description|Star system}}
{{Infobox star
| name = Alpha Centauri
| distance = {{convert|4.37|ly|pc}}
}}
'''Alpha Centauri''' is the closest [[star system]] to the [[Solar System]].<ref name="nasa">{{cite web |url=https://example.org/stars |title=Stars}}</ref> It lies in the [[Centaurus|constellation of Centaurus]].

== Components ==
{| class="wikitable"
! Star !! Mass
|-
| A || {{val|1.1}}
|-
| B || 0.9
|}
The two main stars orbit each other every eighty years.<ref>Smith 2001, p. 4.</ref>

== References ==
{{Reflist}}

[[Category:Star systems]]"""),
    ("Alpha Cen", 0, "Alpha Centauri", "#REDIRECT [[Alpha Centauri]]\n\n"
     "{{Redirect category shell|{{R from abbreviation}}}}"),
    ("Talk:Alpha Centauri", 1, None, """{{WikiProject Astronomy|class=B}}
== Distance ==
Is the distance right?<ref>Talk source</ref> [[User:Example|Example]] ~~~~"""),
    ("Basalt", 0, None, """{{Main|Volcanic rock}}
[[File:Basalt columns.jpg|thumb|Columns of [[basalt]] in a [[lava]] flow.]]
'''Basalt''' is a fine-grained [[igneous rock]] formed from the rapid cooling of [[lava]].<ref name="usgs" /> It makes up most of the [[oceanic crust]].

{| class="wikitable sortable"
|+ Composition
! Mineral !! Share
|-
| [[Plagioclase]] || 50%
|}

Basalt weathers quickly in warm and wet climates.<ref name="usgs">{{cite book |title=Rocks |year=1999}}</ref>

[[Category:Volcanic rocks]]
[[de:Basalt]]"""),
    ("Copper", 0, None, """{{pp-semi|small=yes}}
'''Copper''' is a [[chemical element]] with the symbol Cu.<ref>{{Cite journal |title=Cu}}</ref> It is a soft and [[Ductility|ductile]] metal with very high [[Electrical conductivity|conductivity]].

== Uses ==
Most copper is used in electrical wire and in plumbing.{{citation needed|date=May 2020}} See the [http://example.org/copper copper survey] for details.
* wire
* pipes

[[Category:Chemical elements]]"""),
    ("Danube", 0, None, """{{Infobox river
| name = Danube
| length = 2850 km
}}
The '''Danube''' is the second-longest river in [[Europe]], after the [[Volga]].<ref group="note">By length.</ref> It flows through ten countries.

== Course ==
{| class="wikitable"
|-
| Source || [[Black Forest]]
|-
| Mouth || [[Black Sea]]
|}
The river rises in the [[Black Forest]] and flows into the [[Black Sea]].

[[Category:Rivers of Europe]]"""),
    ("Edmund Halley", 0, None, """{{Use dmy dates|date=March 2021}}
'''Edmund Halley''' (8 November 1656 – 14 January 1742) was an English [[astronomer]].<ref>Cook 1998.</ref> He computed the orbit of the comet that bears his name.
{{Quote box|quote=It will return.|source=Halley}}

== Legacy ==
A crater on [[Mars]] is named after him.<ref name="iau" />

== See also ==
* [[Halley's Comet]]

[[Category:English astronomers]]"""),
]
# The articles' sentences, as prepare_corpus writes them.
_EXPORT_SENTENCES = [
    "Alpha Centauri is the closest star system to the Solar System.",
    "It lies in the constellation of Centaurus.",
    "The two main stars orbit each other every eighty years.",
    "Basalt is a fine-grained igneous rock formed from the rapid cooling of "
    "lava.",
    "It makes up most of the oceanic crust.",
    "Basalt weathers quickly in warm and wet climates.",
    "Copper is a chemical element with the symbol Cu.",
    "It is a soft and ductile metal with very high conductivity.",
    "Most copper is used in electrical wire and in plumbing.",
    "See the copper survey for details.",
    "The Danube is the second-longest river in Europe, after the Volga.",
    "It flows through ten countries.",
    "The river rises in the Black Forest and flows into the Black Sea.",
    "Edmund Halley (8 November 1656 – 14 January 1742) was an English "
    "astronomer.",
    "He computed the orbit of the comet that bears his name.",
    "A crater on Mars is named after him.",
]


def export_page_xml(page_id, title, namespace, redirect, text):
  """A <page> of export schema 0.10 (`namespace` None: without <ns>)."""
  lines = ["  <page>", "    <title>%s</title>" % saxutils.escape(title)]
  if namespace is not None:
    lines.append("    <ns>%d</ns>" % namespace)
  lines.append("    <id>%d</id>" % page_id)
  if redirect is not None:
    lines.append("    <redirect title=%s />" % saxutils.quoteattr(redirect))
  lines.extend([
      "    <revision>",
      "      <id>%d</id>" % (1000 + page_id),
      "      <timestamp>2024-01-01T12:00:00Z</timestamp>",
      "      <contributor><username>Editor</username><id>7</id></contributor>",
      "      <model>wikitext</model>",
      "      <format>text/x-wiki</format>",
      '      <text bytes="%d" xml:space="preserve">%s</text>' %
      (len(text.encode("utf-8")), saxutils.escape(text)),
      "      <sha1>0123456789abcdefghijklmnopqrstu</sha1>",
      "    </revision>",
      "  </page>"])
  return "\n".join(lines) + "\n"


def write_export(path, pages, siteinfo=False):
  """Writes a MediaWiki XML export (schema 0.10) of `pages` (tuples as in
  _EXPORT_PAGES), bz2-compressed if `path` ends with .bz2; returns `path` as
  str."""
  xml = (_EXPORT_HEADER + (_SITEINFO if siteinfo else "") +
         "".join(export_page_xml(i, *page)
                 for i, page in enumerate(pages, start=1)) +
         "</mediawiki>\n").encode("utf-8")
  path.write_bytes(bz2.compress(xml) if path.name.endswith(".bz2") else xml)
  return str(path)


def prepare_export(path, output):
  """(titles kept, text written, stats) of prepare_corpus on an export."""
  kept = []
  paths, stats = corpus.prepare_corpus(
      path, output, min_chars=0,
      on_document=lambda title, sentences: kept.append(title))
  text = "".join(pathlib.Path(p).read_text("utf-8") for p in paths)
  return kept, text, stats


@pytest.mark.parametrize("name", ["export.xml", "export.xml.bz2"])
def test_wikipedia_export_without_siteinfo(tmp_path, name):
  # <siteinfo> is optional in the export schema; namespaces come from <ns>.
  path = write_export(tmp_path / name, _EXPORT_PAGES)
  kept, text, stats = prepare_export(path, str(tmp_path / "out.txt"))
  assert sorted(kept) == ["Alpha Centauri", "Basalt", "Copper", "Danube",
                          "Edmund Halley"]
  assert stats.read == 7 and stats.kept == 5
  assert stats.skipped == {"redirect": 1, "not an article (namespace 1)": 1}
  for markup in ("{{", "}}", "{|", "|}", "[[", "]]", "<ref", "</", "==",
                 "[http", "Category:", "thumb|", "||", "Talk", "distance",
                 "REDIRECT", "~~~~"):
    assert markup not in text, markup
  documents = read_documents([tmp_path / "out.txt"])
  assert len(documents) == 5
  assert sorted(line for d in documents for line in d) == sorted(
      _EXPORT_SENTENCES)
  # The same export with a <siteinfo> gives the same text.
  with_siteinfo = write_export(tmp_path / ("siteinfo-" + name), _EXPORT_PAGES,
                               siteinfo=True)
  assert prepare_export(with_siteinfo, str(tmp_path / "out2.txt"))[:2] == (
      kept, text)


def test_wikipedia_export_without_ns_or_siteinfo(tmp_path):
  # Pages without <ns> (older schemas): a known namespace prefix of the
  # title makes a non-article; any other title is an article.
  pages = [(title, None, redirect, text)
           for title, _, redirect, text in _EXPORT_PAGES[:4]]
  pages += [(title, None, None, "Some text about %s." % title) for title in (
      "User:Example", "Wikipedia:Village pump", "File:Basalt columns.jpg",
      "Template:Infobox star", "Category:Star systems", "Help:Contents",
      "Portal:Astronomy", "Draft:Proxima b", "MediaWiki:Sidebar",
      "Module:Citation", "User_talk:Example", "template talk:Convert",
      "Star Wars: Episode I", "Talk: not a prefix", "C++")]
  path = write_export(tmp_path / "no-ns.xml", pages)
  stats = corpus.PrepareStats()
  titles = [title for title, _ in corpus.iter_wikipedia_pages(path, stats)]
  assert titles == ["Alpha Centauri", "Basalt", "Star Wars: Episode I",
                    "Talk: not a prefix", "C++"]
  assert stats.read == 19
  assert stats.skipped == dict(
      [("redirect", 1)] +
      [("not an article (namespace %d)" % ns, 1)
       for ns in (1, 2, 3, 4, 6, 8, 10, 11, 12, 14, 100, 118, 828)])
  # With a <siteinfo>, its <namespaces> decide (here no "Wikipedia" one).
  path = write_export(tmp_path / "no-ns-siteinfo.xml", pages, siteinfo=True)
  titles = [title for title, _ in corpus.iter_wikipedia_pages(
      path, corpus.PrepareStats())]
  assert "Wikipedia:Village pump" in titles and "User:Example" not in titles


def test_not_a_wikipedia_export(tmp_path):
  cases = {
      "page.xml": ("<html><body/></html>",
                   "expected the root element <mediawiki>, found <html>"),
      "other.xml": ('<mediawiki version="0.10"><foo/></mediawiki>',
                    "expected <siteinfo>, <page> or <logitem> in "
                    "<mediawiki>, found <foo>"),
      "empty.xml": ("", "ParseError: no element found"),
  }
  for name, (content, expected) in cases.items():
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(
        "%s: not a MediaWiki XML dump (%s" % (name, expected))):
      corpus.prepare_corpus(str(path), str(tmp_path / "out.txt"))
  # Cut off after some pages.
  path = tmp_path / "cut.xml"
  xml = write_export(path, _EXPORT_PAGES * 20)
  path.write_bytes(path.read_bytes()[:-2000])
  with pytest.raises(ValueError, match=r"cut\.xml: malformed or cut-off "
                     r"MediaWiki XML dump \(after \d+ pages: ParseError"):
    corpus.prepare_corpus(xml, str(tmp_path / "out.txt"))
  assert not os.path.exists(tmp_path / "out.txt")


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
