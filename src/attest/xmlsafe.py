"""Hardened XML reading for SAML assertions and for the XML inside their attribute values (issue 14).

What arrives is untrusted text. Before a parser sees it: a byte cap; UTF-8 only (a declared encoding
other than UTF-8/US-ASCII, or a NUL byte, is refused, so the byte scan below cannot be dodged with UTF-16);
no ``<!DOCTYPE`` and no ``<!ENTITY`` anywhere (so no internal or external DTD, no entity expansion, no XXE,
whatever the parser would do with them). The lxml parser then runs with ``resolve_entities=False``,
``no_network=True``, ``load_dtd=False``, ``huge_tree=False`` and a fixed UTF-8 encoding; after parsing, the
tree is refused if it still has a DTD, an entity reference, a processing instruction, more elements than
the element cap or nesting deeper than the depth cap. XInclude is never processed.

Input may be XML text or bytes, or the base64 of it (as an assertion travels in a WS-Security header or a
form field): standard alphabet, padding required, whitespace ignored.

Every refusal is an :class:`XmlRefused` carrying the message for an ``invalid_saml`` finding; nothing
else is raised for any input. Messages never quote the input.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

__all__ = ["XSI_NS", "XmlLimits", "XmlRefused", "decode_input", "hardened_parser", "parse_document",
           "parse_fragment", "text_content"]

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

_BOM = b"\xef\xbb\xbf"
_XML_DECL = re.compile(rb"<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_WHITESPACE = re.compile(rb"[ \t\r\n]+")
#: markup that declares a DTD or entities; XML spells both in upper case only
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY")


class XmlRefused(Exception):
    """The input cannot be read safely; ``message`` says why (it never quotes the input)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Caps applied before and after parsing (the profile's ``saml`` section sets them)."""

    #: bytes of XML (after base64 decoding); the base64 text may be 4/3 of this plus line breaks
    max_bytes: int = 65536
    #: element nesting depth (an assertion is about 8 deep)
    max_depth: int = 32
    #: elements in the whole document (the real assertions have about 90)
    max_elements: int = 2000
    #: characters of one attribute value holding XML (an HL7v3 CE or II is about 250)
    max_fragment_chars: int = 4096


def hardened_parser() -> etree.XMLParser:
    """A new parser (lxml parsers are not shared between threads) that resolves nothing and fetches
    nothing. Comments are kept: the signature layer decides what they mean (exclusive c14n drops them)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           attribute_defaults=False, huge_tree=False, remove_pis=False, remove_comments=False,
                           collect_ids=False, encoding="utf-8")


def decode_input(data: str | bytes, limits: XmlLimits) -> bytes:
    """The XML bytes of ``data`` (XML text or bytes, or base64 of them), without a UTF-8 byte-order mark and
    surrounding whitespace. Raises :class:`XmlRefused`."""
    b64_cap = limits.max_bytes * 4 // 3 + limits.max_bytes // 32 + 16  # padding and line breaks
    if len(data) > b64_cap:
        raise XmlRefused(f"the input is over {b64_cap} characters")
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:
            raise XmlRefused("the input holds lone surrogates (not UTF-8 text)") from None
    else:
        raw = bytes(data)
    raw = raw.strip()
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):].lstrip()
    if not raw.startswith(b"<"):
        raw = _decode_base64(raw)
    if len(raw) > limits.max_bytes:
        raise XmlRefused(f"the XML is {len(raw)} bytes; the limit is {limits.max_bytes}")
    return raw


def _decode_base64(text: bytes) -> bytes:
    compact = _WHITESPACE.sub(b"", text)
    if not compact or len(compact) % 4 or not _BASE64.fullmatch(compact):
        raise XmlRefused("the input is neither XML nor standard base64 of XML")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise XmlRefused("the input is neither XML nor standard base64 of XML") from None
    raw = raw.strip()
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):].lstrip()
    if not raw.startswith(b"<"):
        raise XmlRefused("the base64 input does not hold XML")
    return raw


def _prescan(raw: bytes) -> None:
    """Refusals that need no parser: NUL bytes (UTF-16/32), a declared encoding other than UTF-8, a DTD or
    entity declaration anywhere."""
    if b"\x00" in raw:
        raise XmlRefused("the XML is not UTF-8 (it holds NUL bytes)")
    decl = _XML_DECL.match(raw)
    if decl is not None and decl.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        raise XmlRefused("the XML declares an encoding other than UTF-8")
    for marker in _FORBIDDEN:
        if marker in raw:
            raise XmlRefused("the XML has a DOCTYPE or entity declaration (DTDs are never accepted)")


def _check_tree(root: Any, limits: XmlLimits) -> None:
    """Refusals after parsing: a DTD the pre-scan missed, entity references, processing instructions (in or
    around the root), too many elements, too deep."""
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRefused("the XML has a document type declaration (DTDs are never accepted)")
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if not isinstance(sibling, etree._Comment):
            raise XmlRefused("the XML has a processing instruction or other node beside the root element")
    for count, node in enumerate(root.iter(), 1):
        if isinstance(node, etree._Entity):
            raise XmlRefused("the XML has an entity reference")
        if isinstance(node, etree._ProcessingInstruction):
            raise XmlRefused("the XML has a processing instruction")
        if count > limits.max_elements:
            raise XmlRefused(f"the XML has more than {limits.max_elements} nodes")
    # depth: every leaf's ancestors, bounded by the node cap above
    for node in root.iter():
        if len(node) == 0:
            depth = sum(1 for _ in node.iterancestors())
            if depth >= limits.max_depth:
                raise XmlRefused(f"the XML nests deeper than {limits.max_depth} elements")


def parse_document(raw: bytes, limits: XmlLimits) -> Any:
    """The root element of ``raw`` (from :func:`decode_input`), parsed and checked as the module says.
    Raises :class:`XmlRefused`."""
    _prescan(raw)
    try:
        root = etree.fromstring(raw, hardened_parser())
    except (etree.XMLSyntaxError, ValueError):
        raise XmlRefused("the input is not well-formed XML") from None
    if root is None:
        raise XmlRefused("the input is not well-formed XML")
    _check_tree(root, limits)
    return root


def parse_fragment(text: str, limits: XmlLimits) -> Any:
    """The one element held by ``text``, an attribute value that is itself XML (HL7v3 ``CE``/``II``, NHN's
    ``decision-ref``), parsed with the same hardening. The ``xsi`` prefix is declared around it: HelseID
    writes ``xsi:type="CE"`` without declaring ``xsi``. Exactly one element and no other content (text,
    comments, processing instructions) is accepted. Raises :class:`XmlRefused`."""
    if len(text) > limits.max_fragment_chars:
        raise XmlRefused(f"an XML attribute value is over {limits.max_fragment_chars} characters")
    try:
        raw = text.strip().encode("utf-8")
    except UnicodeEncodeError:
        raise XmlRefused("an XML attribute value holds lone surrogates") from None
    _prescan(raw)
    if raw.startswith(b"<?"):
        raise XmlRefused("an XML attribute value starts with a declaration or processing instruction")
    wrapped = b'<v xmlns:xsi="' + XSI_NS.encode() + b'">' + raw + b"</v>"
    try:
        wrapper = etree.fromstring(wrapped, hardened_parser())
    except (etree.XMLSyntaxError, ValueError):
        raise XmlRefused("an attribute value is not well-formed XML") from None
    _check_tree(wrapper, limits)
    children = list(wrapper)
    if len(children) != 1 or not isinstance(children[0].tag, str) or (wrapper.text or "").strip() \
            or (children[0].tail or "").strip():
        raise XmlRefused("an attribute value that is XML must hold exactly one element")
    return children[0]


def text_content(element: Any) -> str:
    """All the text of an element that holds only text: its text nodes joined, across comments (the
    CVE-2017-11427 class: a reader that took only the text before a comment would read a truncated value).
    Child elements are not text: their presence raises :class:`XmlRefused`."""
    parts: list[str] = [element.text or ""]
    for child in element:
        if isinstance(child, etree._Comment):
            parts.append(child.tail or "")
            continue
        raise XmlRefused("an element that must hold text holds child elements")
    return "".join(parts)
