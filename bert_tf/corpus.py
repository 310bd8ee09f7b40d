"""Pretraining corpora: Wikipedia dumps, WikiExtractor JSON and books -> text.

Writes the pretraining text format that `create_pretraining_data.py` reads:
one sentence per line, a blank line between documents, sharded into
`num_shards` files of about equal size.

Inputs (`--input_format`, guessed from the names by default):
  * `wikipedia`: a MediaWiki XML export (`.xml` or `.xml.bz2`, e.g.
    `enwiki-latest-pages-articles.xml.bz2`), streamed with `mwxml` (never
    loaded whole; `<siteinfo>` is optional, see `iter_wikipedia_pages` for
    how namespaces are told). Kept: articles (namespace 0) that are not
    redirects nor disambiguation pages. The wikitext is parsed with
    `mwparserfromhell` and rendered to plain text: templates, references,
    tables, galleries, comments, files/images, categories, interlanguage
    links and HTML tags are removed (the text of bold, italic and other
    inline tags stays), headings are dropped, and so are lists and the
    sections that are lists of links ("References", "External links", "See
    also", ...).
  * `json`: WikiExtractor-style JSON lines ({"title": ..., "text": ...}; the
    text's lines are paragraphs).
  * `books`: a directory (or files) of plain-text books: wrapped lines, blank
    lines between paragraphs; a one-line "CHAPTER IV"-style heading starts a
    new document (see `pretraining.is_heading`).
Paragraphs are cut into sentences by a sentence splitter (by default
`blingfire` for Wikipedia and JSON, the rule-based `pretraining.split_sentences`
for books; `syntok` and `pysbd` are available; see docs/benchmarks.md for the
measurement behind the default).

Filters: documents with fewer than `min_chars` characters of text are
skipped, and with `dedup` a document whose normalized text was already seen
(SHA-1 of the lower-cased words) is skipped. Every skip is counted with its
reason (`PrepareStats`).

Sharding: documents pass through a shuffle window (`shuffle_window`
documents, seeded by `seed`); each one leaving the window goes to the shard
with the fewest bytes so far. So the shards are of about equal size and the
output is the same for a seed and the same inputs, whatever the number of
workers (parsing runs in a process pool whose results are used in input
order). Each shard is written under a temporary name and renamed when the
whole run is complete.

This module never reads absl FLAGS.
"""

import bz2
import collections
import glob
import gzip
import hashlib
import json
import multiprocessing
import os
import random
import re
import time
import uuid

from absl import logging

from bert_tf.tasks import pretraining

_LOG_EVERY_SECONDS = 10.0

RawText = collections.namedtuple("RawText", ["source", "title", "paragraphs"])
RawText.__doc__ = """A document before sentence splitting: `source` (file or
file:line), `title` (or None) and `paragraphs` (list of str)."""


class PrepareStats(object):
  """Counts of a corpus preparation: read, kept and skipped (by reason)."""

  def __init__(self):
    self.read = 0
    self.kept = 0
    self.sentences = 0
    self.bytes = 0
    self.skipped = collections.Counter()
    self.dropped_sentences = 0  # markup left after rendering (rare)

  def skip(self, reason):
    self.skipped[reason] += 1

  def to_dict(self):
    return {"read": self.read, "kept": self.kept, "sentences": self.sentences,
            "bytes": self.bytes, "skipped": dict(self.skipped),
            "dropped_sentences": self.dropped_sentences}

  def __str__(self):
    skipped = ", ".join("%s: %d" % item for item in sorted(
        self.skipped.items())) or "none"
    return ("%d documents read, %d kept (%d sentences, %.1f MB); skipped: %s"
            "; sentences dropped for leftover markup: %d" %
            (self.read, self.kept, self.sentences, self.bytes / 1e6, skipped,
             self.dropped_sentences))


# ----------------------------------------------------------------------------
# Wikitext -> plain text.
# ----------------------------------------------------------------------------

# Sections that are lists of links or sources, dropped whole (lower case).
DROPPED_SECTIONS = frozenset([
    "references", "external links", "see also", "further reading", "notes",
    "bibliography", "sources", "citations", "footnotes", "notes and references",
    "references and notes", "works cited", "gallery", "filmography",
    "discography", "selected works", "publications", "works",
])
# Tags whose content is not prose.
_DROPPED_TAGS = frozenset([
    "ref", "references", "table", "gallery", "math", "chem", "ce", "timeline",
    "imagemap", "score", "syntaxhighlight", "source", "pre", "code", "hiero",
    "graph", "mapframe", "maplink", "templatedata", "nowiki", "noinclude",
    "includeonly", "onlyinclude", "div", "blockquote", "poem", "sup", "sub",
    "small", "big", "center", "span", "br", "hr", "abbr", "s", "del", "ins",
    "u", "font", "tt", "var", "section", "categorytree", "inputbox",
])
# Inline tags whose text stays.
_KEPT_TAGS = frozenset(["b", "i", "em", "strong", "q", "cite", "dfn", "bdi"])
# Tags that mark list items (the line is dropped).
_LIST_TAGS = frozenset(["li", "dt", "dd"])
_DROPPED_LINK_PREFIXES = ("file:", "image:", "category:", "media:",
                          "wikipedia:", "wp:", "template:", "help:", "portal:",
                          "special:", "user:", "talk:", "wikt:", "wiktionary:",
                          "s:", "commons:", "q:", "n:", "b:", "v:", "mw:")
_INTERLANGUAGE = re.compile(r"^:?[a-z]{2,3}(-[a-z]+)?:")
_DISAMBIGUATION_TEMPLATES = frozenset([
    "disambiguation", "disambig", "dab", "disamb", "dbig", "hndis", "geodis",
    "numberdis", "letter-number combination disambiguation",
    "letter-numbercombdisambig", "mathdab", "schooldis", "shipindex",
    "disambiguation cleanup", "set index article", "sia", "surname",
    "given name", "mountainindex", "roadindex", "hospitaldis", "callsigndis",
    "species latin name disambiguation", "genus disambiguation",
    "chinese title disambiguation", "place name disambiguation",
])
_LIST_MARK = "\x00"
_LEFTOVER_MARKUP = re.compile(r"\{\{|\}\}|\[\[|\]\]|<ref|\{\||\|\}|</?[a-z]+[ >/]")
_EMPTY_BRACKETS = re.compile(r"\(\s*[,;:]?\s*\)|\[\s*\]")
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
# Markup that mwparserfromhell leaves as text when it is malformed.
_UNPARSED_REF = re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?(</ref>|$)",
                           re.IGNORECASE)
_UNPARSED_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")
_SPACES = re.compile(r"[ \t\u00a0]+")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?)])")


def _template_name(template):
  return " ".join(template.name.strip_code().strip().lower()
                  .replace("_", " ").split())


def is_disambiguation(title, wikicode):
  """True for a disambiguation (or set index) page."""
  if title.endswith("(disambiguation)"):
    return True
  for template in wikicode.filter_templates(recursive=False):
    name = _template_name(template)
    if name in _DISAMBIGUATION_TEMPLATES or name.endswith(" disambiguation"):
      return True
  return False


def _render(wikicode, out):
  """Appends the plain text of `wikicode`'s nodes to `out` (list of str)."""
  import mwparserfromhell  # pylint: disable=g-import-not-at-top
  nodes = mwparserfromhell.nodes
  for node in wikicode.nodes:
    if isinstance(node, nodes.Text):
      out.append(node.value)
    elif isinstance(node, nodes.Wikilink):
      target = str(node.title).strip().lower()
      if target.startswith(_DROPPED_LINK_PREFIXES) or _INTERLANGUAGE.match(
          target):
        continue
      if node.text is not None:
        _render(node.text, out)
      else:
        out.append(node.title.strip_code())
    elif isinstance(node, nodes.ExternalLink):
      if node.title is not None:
        _render(node.title, out)
    elif isinstance(node, nodes.HTMLEntity):
      out.append(node.normalize())
    elif isinstance(node, nodes.Tag):
      tag = str(node.tag).strip().lower()
      if tag in _LIST_TAGS:
        out.append(_LIST_MARK)
      elif tag in _KEPT_TAGS and node.contents is not None:
        _render(node.contents, out)
      # Everything else (references, tables, unknown tags) is dropped.
    # Templates, comments, arguments, headings (handled by the caller),
    # parser functions: dropped.


def clean_wikitext(text):
  """Plain-text paragraphs of an article's wikitext (see the docstring).

  Args:
    text: str, wikitext.

  Returns:
    (paragraphs, wikicode): list of str (one per paragraph), and the parsed
    wikicode (for `is_disambiguation`).
  """
  import mwparserfromhell  # pylint: disable=g-import-not-at-top
  wikicode = mwparserfromhell.parse(text)
  pieces = []
  skipping = False
  heading_type = mwparserfromhell.nodes.Heading
  section = []
  for node in wikicode.nodes:
    if isinstance(node, heading_type):
      if section and not skipping:
        _render(mwparserfromhell.wikicode.Wikicode(section), pieces)
      section = []
      title = " ".join(node.title.strip_code().lower().split())
      # A dropped section ends at the next heading of the same or a higher
      # level.
      if skipping and node.level > skipping:
        continue
      skipping = node.level if title in DROPPED_SECTIONS else False
      pieces.append("\n\n")
      continue
    section.append(node)
  if section and not skipping:
    _render(mwparserfromhell.wikicode.Wikicode(section), pieces)
  paragraphs = []
  for line in "".join(pieces).split("\n"):
    if _LIST_MARK in line:
      continue
    line = _MAGIC_WORD.sub("", line)
    if "<" in line:
      line = _UNPARSED_TAG.sub("", _UNPARSED_REF.sub("", line))
    line = _EMPTY_BRACKETS.sub("", line)
    line = _SPACES.sub(" ", line).strip()
    line = _SPACE_BEFORE_PUNCT.sub(r"\1", line)
    if line and not line.startswith(("{|", "|", "!", "[[", "{{")):
      paragraphs.append(line)
  return paragraphs, wikicode


def _open_text(path):
  if path.endswith(".bz2"):
    return bz2.open(path, "rb")
  if path.endswith(".gz"):
    return gzip.open(path, "rb")
  return pretraining.open_file(path, "rb")


# MediaWiki's default namespaces and Wikipedia's extra ones (canonical names
# and the core aliases "Image"/"Image talk"), by number: how pages without
# <ns> are placed in an export without <siteinfo>.
_DEFAULT_NAMESPACES = {
    "Media": -2, "Special": -1, "Talk": 1, "User": 2, "User talk": 3,
    "Project": 4, "Wikipedia": 4, "Project talk": 5, "Wikipedia talk": 5,
    "File": 6, "Image": 6, "File talk": 7, "Image talk": 7, "MediaWiki": 8,
    "MediaWiki talk": 9, "Template": 10, "Template talk": 11, "Help": 12,
    "Help talk": 13, "Category": 14, "Category talk": 15, "Portal": 100,
    "Portal talk": 101, "Draft": 118, "Draft talk": 119, "TimedText": 710,
    "TimedText talk": 711, "Module": 828, "Module talk": 829,
}


class _NamespaceNames(dict):
  """A namespace map for mwxml ({name: mwxml.Namespace}) that looks names up
  as MediaWiki does: case-insensitively, with "_" read as " "."""

  @staticmethod
  def key(name):
    return " ".join(name.replace("_", " ").split()).lower()

  def __contains__(self, name):
    return dict.__contains__(self, self.key(name))

  def __getitem__(self, name):
    return dict.__getitem__(self, self.key(name))


def _default_namespace_map():
  import mwxml  # pylint: disable=g-import-not-at-top
  return _NamespaceNames(
      (_NamespaceNames.key(name), mwxml.Namespace(number, name))
      for name, number in _DEFAULT_NAMESPACES.items())


class _NotADump(Exception):
  """The XML is well-formed so far but not a MediaWiki export."""


def _open_dump(reader):
  """Reads an export's header up to its first page; returns a page iterator.

  `mwxml.Dump.from_file` (mwxml 0.3.8) refuses an export without <siteinfo>,
  which the export schema makes optional, so this does its work without
  that requirement, with mwxml's own element and page readers. With
  <siteinfo>, its <namespaces> are the namespace map (as in mwxml); without,
  `_default_namespace_map()`. mwxml trusts a page's <ns> and uses the map
  only for a page without one.

  Args:
    reader: binary file object of the XML.

  Returns:
    An iterator of `mwxml.Page` (<logitem>s are passed over), which raises
    `mwxml.errors.MalformedXML` or `xml.etree.ElementTree.ParseError` if the
    rest of the file is not an export.

  Raises:
    _NotADump, mwxml.errors.MalformedXML, xml.etree.ElementTree.ParseError
    (or any error of reading the file) if the header is not an export's.
  """
  import mwxml  # pylint: disable=g-import-not-at-top
  from mwxml import element_iterator  # pylint: disable=g-import-not-at-top
  # Not ElementIterator.from_file, which puts the next 500 bytes of the file
  # into the message of a ParseError.
  pointer = element_iterator.EventPointer.from_file(reader)
  _, element = next(pointer)
  root = element_iterator.ElementIterator(element, pointer)
  if root.tag != "mediawiki":
    raise _NotADump("expected the root element <mediawiki>, found <%s>" %
                    root.tag)
  site_info = None
  first_item = None
  for child in root:
    if child.tag == "siteinfo" and site_info is None:
      site_info = mwxml.SiteInfo.from_element(child)
    elif child.tag in ("page", "logitem"):
      first_item = child
      break
    else:
      raise _NotADump("expected <siteinfo>, <page> or <logitem> in "
                      "<mediawiki>, found <%s>" % child.tag)
  if site_info is None:
    namespace_map = _default_namespace_map()
  elif site_info.namespaces is None:
    namespace_map = None  # mwxml: every page without <ns> is an article
  else:
    namespace_map = {ns.name: ns for ns in site_info.namespaces}
  items = mwxml.Dump.load_items(first_item, root, namespace_map)
  return (item for item in items if isinstance(item, mwxml.Page))


def iter_wikipedia_pages(path, stats):
  """Yields (title, wikitext) of the namespace-0 non-redirect pages.

  Redirects and other namespaces are counted in `stats` as skipped. The text
  is the page's last revision's.

  A page's namespace is its <ns> element. For a page without <ns> (older
  export schemas), it comes from the title's prefix: with <siteinfo>, a
  namespace name listed in its <namespaces> (if it lists none, every such
  page is an article); without <siteinfo> (which the schema makes optional),
  one of MediaWiki's default namespaces or Wikipedia's extra ones
  (`_DEFAULT_NAMESPACES`: "Talk:", "User:", "Wikipedia:", "Project:",
  "File:", "Image:", "Template:", "Category:", "Help:", "Portal:", "Draft:",
  "MediaWiki:", "Module:", "TimedText:" and their talk namespaces; case does
  not matter, "_" reads as a space). A title with no such prefix is an
  article, and so is one with a space after the prefix's colon (mwxml's
  rule). So another wiki's own project namespace (e.g. "Wikibooks:") is only
  told apart by <ns> or <siteinfo>.

  Raises:
    ValueError: naming `path`, if it is not a MediaWiki XML export (the
      root element <mediawiki>, then <siteinfo> or pages), or if it is
      malformed or cut off after its first pages.
  """
  import mwxml  # pylint: disable=g-import-not-at-top
  malformed = (mwxml.errors.MalformedXML, SyntaxError, ValueError, EOFError)
  with _open_text(path) as reader:
    try:
      pages = _open_dump(reader)
    except Exception as e:  # pylint: disable=broad-except
      detail = (str(e) if isinstance(e, _NotADump) else
                "%s: %s" % (type(e).__name__, e))
      raise ValueError("%s: not a MediaWiki XML dump (%s)" % (path, detail))
    num_pages = 0
    while True:
      try:
        page = next(pages, None)
        if page is None:
          break
        num_pages += 1
        stats.read += 1
        if page.namespace != 0:
          stats.skip("not an article (namespace %d)" % page.namespace)
          continue
        if page.redirect:
          stats.skip("redirect")
          continue
        text = None
        for revision in page:
          text = revision.text
      except malformed as e:
        raise ValueError("%s: malformed or cut-off MediaWiki XML dump (after "
                         "%d pages: %s: %s)" %
                         (path, num_pages, type(e).__name__, e))
      text = text or ""
      if text.lstrip()[:9].lower() == "#redirect":
        stats.skip("redirect")
        continue
      yield page.title, text


def iter_json_documents(path, stats):
  """Yields RawText of WikiExtractor-style JSON lines."""
  with _open_text(path) as reader:
    for line_number, raw in enumerate(reader, start=1):
      if not raw.strip():
        continue
      try:
        record = json.loads(raw)
        text = record["text"]
      except (ValueError, KeyError, TypeError) as e:
        raise ValueError("%s:%d: not a JSON object with a \"text\" field "
                         "(%s)" % (path, line_number, e))
      stats.read += 1
      title = record.get("title")
      paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
      if paragraphs and title and paragraphs[0] == title.strip():
        paragraphs = paragraphs[1:]  # WikiExtractor puts the title first
      yield RawText("%s:%d" % (path, line_number), title, paragraphs)


def iter_book_documents(path, stats):
  """Yields RawText of one plain-text book (chapters as documents)."""
  blocks = pretraining.iter_text_blocks(path)
  for raw in pretraining.raw_documents_from_blocks(path, blocks,
                                                   sentence_split=True):
    stats.read += 1
    yield RawText("%s:%s" % (path, raw.line_number),
                  os.path.basename(path), list(raw.units))


# ----------------------------------------------------------------------------
# Sentence splitting.
# ----------------------------------------------------------------------------

SPLITTERS = ("auto", "blingfire", "syntok", "pysbd", "rules")


def make_splitter(name):
  """Returns a function paragraph (str) -> list of sentences (str).

  "auto" is not a splitter: see `_splitter_for`.
  """
  if name == "blingfire":
    import blingfire  # pylint: disable=g-import-not-at-top
    def split(text):
      return [s for s in blingfire.text_to_sentences(text).split("\n")
              if s.strip()]
    return split
  if name == "syntok":
    from syntok import segmenter  # pylint: disable=g-import-not-at-top
    def split(text):
      sentences = []
      for paragraph in segmenter.analyze(text):
        for sentence in paragraph:
          value = "".join(t.spacing + t.value for t in sentence).strip()
          if value:
            sentences.append(value)
      return sentences
    return split
  if name == "pysbd":
    import pysbd  # pylint: disable=g-import-not-at-top
    segmenter = pysbd.Segmenter(language="en", clean=False)
    def split(text):
      return [s.strip() for s in segmenter.segment(text) if s.strip()]
    return split
  if name == "rules":
    return pretraining.split_sentences
  raise ValueError("Unknown sentence splitter %r; use one of %s." %
                   (name, ", ".join(SPLITTERS)))


# ----------------------------------------------------------------------------
# Parallel processing: raw items -> documents (lists of sentences).
# ----------------------------------------------------------------------------

_WORKER = {}


def _splitter_for(name, kind):
  """"auto": blingfire for Wikipedia/JSON, the rule splitter for books.

  Measured (docs/benchmarks.md): on Wikipedia paragraphs blingfire agrees
  with pysbd most often and is 50x faster; on novels it splits after "Mrs."
  and misses "Mr. Darcy came. Dr. Watson left.", which the rule splitter
  (written for such prose) gets right.
  """
  if name != "auto":
    return name
  return "rules" if kind == "book" else "blingfire"


def _init_worker(splitter_name):
  _WORKER["name"] = splitter_name
  _WORKER["splitters"] = {}


def _process(item):
  """(kind, title, payload) -> (title, sentences or None, skip reason)."""
  kind, title, payload = item
  name = _splitter_for(_WORKER["name"], kind)
  split = _WORKER["splitters"].get(name)
  if split is None:
    split = _WORKER["splitters"][name] = make_splitter(name)
  if kind == "wikitext":
    paragraphs, wikicode = clean_wikitext(payload)
    if is_disambiguation(title, wikicode):
      return title, None, "disambiguation"
  else:
    paragraphs = payload
  sentences = []
  dropped = 0
  for paragraph in paragraphs:
    for sentence in split(paragraph):
      sentence = " ".join(sentence.split())
      if _LEFTOVER_MARKUP.search(sentence):
        dropped += 1
        continue
      if sentence:
        sentences.append(sentence)
  return title, sentences, dropped


def _imap(items, splitter, num_workers, chunksize=8):
  if num_workers <= 1:
    _init_worker(splitter)
    for item in items:
      yield _process(item)
    return
  methods = multiprocessing.get_all_start_methods()
  context = multiprocessing.get_context("fork" if "fork" in methods else
                                        "spawn")
  with context.Pool(num_workers, initializer=_init_worker,
                    initargs=(splitter,)) as pool:
    for result in pool.imap(_process, items, chunksize=chunksize):
      yield result


# ----------------------------------------------------------------------------
# Sharded, atomic output.
# ----------------------------------------------------------------------------


def shard_paths(output, num_shards):
  """`output` with a `%d`-style field, or NAME -> NAME-0000k-of-0000N."""
  if num_shards < 1:
    raise ValueError("num_shards=%d must be >= 1." % num_shards)
  if "%" in output:
    paths = [output % k for k in range(num_shards)]
  elif num_shards == 1:
    paths = [output]
  else:
    paths = ["%s-%05d-of-%05d" % (output, k, num_shards)
             for k in range(num_shards)]
  if len(set(paths)) != len(paths):
    raise ValueError("Output pattern %r gives the same name twice." % output)
  return paths


class ShardedTextWriter(object):
  """Writes documents to shards of about equal size, through a shuffle window.

  Documents are held in a window of `window` documents; when it is full, a
  random one (drawn with `random.Random(seed)`) leaves it and is appended to
  the shard with the fewest bytes so far (the lowest index on ties). Files
  are written under temporary names; `close()` renames them, `abort()`
  removes them.
  """

  def __init__(self, paths, seed=12345, window=10000):
    self.paths = list(paths)
    self.rng = random.Random(seed)
    self.window = max(1, window)
    self.buffer = []
    self.sizes = [0] * len(self.paths)
    self.tmp_paths = ["%s.tmp-%s" % (p, uuid.uuid4().hex[:8])
                      for p in self.paths]
    self.files = []
    for path in self.tmp_paths:
      os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
      self.files.append(open(path, "wb"))

  def add(self, sentences):
    """Adds one document (list of sentence strings)."""
    self.buffer.append(("\n".join(sentences) + "\n\n").encode("utf-8"))
    if len(self.buffer) >= self.window:
      self._emit(self._pop_random())

  def _pop_random(self):
    index = self.rng.randrange(len(self.buffer))
    self.buffer[index], self.buffer[-1] = self.buffer[-1], self.buffer[index]
    return self.buffer.pop()

  def _emit(self, data):
    shard = min(range(len(self.sizes)), key=self.sizes.__getitem__)
    self.files[shard].write(data)
    self.sizes[shard] += len(data)

  def close(self):
    while self.buffer:
      self._emit(self._pop_random())
    for handle in self.files:
      handle.close()
    for tmp, path in zip(self.tmp_paths, self.paths):
      os.replace(tmp, path)
    return list(self.sizes)

  def abort(self):
    for handle in self.files:
      handle.close()
    for tmp in self.tmp_paths:
      if os.path.exists(tmp):
        os.remove(tmp)


# ----------------------------------------------------------------------------
# The whole preparation.
# ----------------------------------------------------------------------------

FORMATS = ("wikipedia", "json", "books")


def guess_format(path):
  """Input format from a file or directory name (see FORMATS)."""
  if os.path.isdir(path):
    return "books"
  name = path.lower()
  for suffix in (".bz2", ".gz"):
    if name.endswith(suffix):
      name = name[:-len(suffix)]
  if name.endswith(".xml"):
    return "wikipedia"
  if name.endswith((".json", ".jsonl")) or re.search(r"wiki_\d+$", name):
    return "json"
  return "books"


def expand_inputs(inputs):
  """Comma-separated files, globs or directories (whose files, sorted)."""
  if isinstance(inputs, str):
    inputs = [p.strip() for p in inputs.split(",") if p.strip()]
  files = []
  for pattern in inputs:
    matched = sorted(glob.glob(pattern)) or ([pattern] if os.path.exists(
        pattern) else [])
    if not matched:
      raise FileNotFoundError("No input matches %r" % pattern)
    for path in matched:
      if os.path.isdir(path):
        for root, dirs, names in os.walk(path):
          dirs.sort()
          files.extend(os.path.join(root, n) for n in sorted(names)
                       if not n.startswith("."))
      else:
        files.append(path)
  if not files:
    raise FileNotFoundError("No input files in %r" % (inputs,))
  return files


def iter_items(files, input_format, stats):
  """Yields (kind, title, payload) work items for `_process`."""
  for path in files:
    fmt = input_format or guess_format(path)
    if fmt == "wikipedia":
      for title, text in iter_wikipedia_pages(path, stats):
        yield "wikitext", title, text
    elif fmt == "json":
      for raw in iter_json_documents(path, stats):
        yield "paragraphs", raw.title, raw.paragraphs
    elif fmt == "books":
      for raw in iter_book_documents(path, stats):
        yield "book", raw.title, raw.paragraphs
    else:
      raise ValueError("Unknown input format %r; use one of %s." %
                       (fmt, ", ".join(FORMATS)))


def prepare_corpus(inputs, output, num_shards=1, input_format=None,
                   splitter="auto", min_chars=200, dedup=False, seed=12345,
                   shuffle_window=10000, num_workers=1, on_document=None):
  """Converts corpora into sharded pretraining text. See the module docstring.

  Args:
    inputs: list (or comma-separated str) of files, globs or directories.
    output: output name (see `shard_paths`).
    num_shards: number of output files.
    input_format: one of FORMATS, or None to guess from each file's name.
    splitter: sentence splitter (see SPLITTERS).
    min_chars: documents with less text than this are skipped.
    dedup: skip documents whose normalized text was seen before.
    seed: seed of the shuffle window.
    shuffle_window: documents held for shuffling (memory grows with it).
    num_workers: processes parsing and splitting.
    on_document: optional callable(title, sentences) for each kept document
      (tests, indexes).

  Returns:
    (paths, PrepareStats).

  Raises:
    ValueError / FileNotFoundError: bad input (naming the file and line).
  """
  files = expand_inputs(inputs)
  if input_format is not None and input_format not in FORMATS:
    raise ValueError("Unknown input format %r; use one of %s." %
                     (input_format, ", ".join(FORMATS)))
  if splitter != "auto":
    make_splitter(splitter)  # fail early on an unknown or missing splitter
  paths = shard_paths(output, num_shards)
  stats = PrepareStats()
  seen = set()
  writer = ShardedTextWriter(paths, seed=seed, window=shuffle_window)
  start = last_log = time.time()
  try:
    for title, sentences, extra in _imap(iter_items(files, input_format, stats),
                                         splitter, num_workers):
      if sentences is None:
        stats.skip(extra)
        continue
      stats.dropped_sentences += extra
      num_chars = sum(len(s) for s in sentences)
      if not sentences:
        stats.skip("empty after cleaning")
        continue
      if num_chars < min_chars:
        stats.skip("shorter than %d characters" % min_chars)
        continue
      if dedup:
        key = hashlib.sha1(" ".join(" ".join(sentences).lower().split())
                           .encode("utf-8")).digest()[:12]
        if key in seen:
          stats.skip("duplicate")
          continue
        seen.add(key)
      writer.add(sentences)
      stats.kept += 1
      stats.sentences += len(sentences)
      stats.bytes += num_chars + len(sentences) + 1
      if on_document is not None:
        on_document(title, sentences)
      now = time.time()
      if now - last_log > _LOG_EVERY_SECONDS:
        last_log = now
        logging.info("%d documents read, %d kept (%.1f documents/s, %.2f MB/s "
                     "written)", stats.read, stats.kept,
                     stats.read / (now - start), stats.bytes / 1e6 /
                     (now - start))
    writer.close()
  except BaseException:
    writer.abort()
    raise
  logging.info("Prepared %s in %.1fs -> %d file(s)", stats,
               time.time() - start, len(paths))
  return paths, stats


# ----------------------------------------------------------------------------
# Command line (flags are defined only when run as a program).
# ----------------------------------------------------------------------------


def define_flags():
  """Defines the CLI flags of `python -m bert_tf.corpus` / prepare_corpus.py."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string(
      "input", None,
      "Comma-separated files, globs or directories: a MediaWiki XML dump "
      "(.xml/.xml.bz2), WikiExtractor JSON lines, or plain-text books.")
  flags.DEFINE_string(
      "output", None,
      "Output name: NAME gives NAME-0000k-of-0000N with --num_shards=N > 1; "
      "a %d-style field (e.g. corpus/wiki-%03d.txt) names the shards.")
  flags.DEFINE_integer("num_shards", 1, "Number of output files.")
  flags.DEFINE_enum("input_format", None, list(FORMATS),
                    "Input format (default: guessed from each name).")
  flags.DEFINE_enum("splitter", "auto", list(SPLITTERS),
                    "Sentence splitter; auto: blingfire for Wikipedia and "
                    "JSON, the rule-based one for books.")
  flags.DEFINE_integer("min_chars", 200,
                       "Skip documents with fewer characters of text.")
  flags.DEFINE_bool("dedup", False,
                    "Skip documents whose normalized text was seen before.")
  flags.DEFINE_integer("seed", 12345, "Seed of the shuffle window.")
  flags.DEFINE_integer("shuffle_window", 10000,
                       "Documents held for shuffling across shards.")
  flags.DEFINE_integer("num_workers", 1,
                       "Processes parsing wikitext and splitting sentences.")
  flags.mark_flag_as_required("input")
  flags.mark_flag_as_required("output")


def main(_):
  """Runs prepare_corpus from the flags and prints the counts."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  options = flags.FLAGS
  logging.set_verbosity(logging.INFO)
  if options.num_workers < 1:
    raise ValueError("--num_workers must be >= 1.")
  start = time.time()
  paths, stats = prepare_corpus(
      options.input, options.output, num_shards=options.num_shards,
      input_format=options.input_format, splitter=options.splitter,
      min_chars=options.min_chars, dedup=options.dedup, seed=options.seed,
      shuffle_window=options.shuffle_window, num_workers=options.num_workers)
  seconds = time.time() - start
  print("wrote: %s" % ", ".join(paths))
  print("documents_read: %d" % stats.read)
  print("documents_kept: %d" % stats.kept)
  print("sentences: %d" % stats.sentences)
  print("megabytes: %.2f" % (stats.bytes / 1e6))
  for reason, count in sorted(stats.skipped.items()):
    print("skipped (%s): %d" % (reason, count))
  print("sentences dropped (leftover markup): %d" % stats.dropped_sentences)
  print("seconds: %.1f (%.1f documents/s)" % (seconds,
                                              stats.read / max(seconds, 1e-9)))


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top
  define_flags()
  app.run(main)
