"""The knowledge graph's node labels, relationship types and their properties.

This is the whitelist: Cypher labels and relationship types are only ever taken from
here (never from user data), and both stores check names against it.

Every node has a unique string ``id`` (the external id; for a category the
root-to-leaf path joined by :data:`CATEGORY_SEP`). Property kinds: ``int``,
``float`` (NaN in memory, absent in Neo4j when unknown), ``str`` (None when unknown),
``datetime`` (``datetime64[ns]`` in memory, a Neo4j ``LocalDateTime``; NaT/absent
when unknown).

``CO_PURCHASED`` is symmetric, so each unordered pair is stored **once**, from the
item with the lower index (lower natural id) to the higher; query it undirected in
Cypher: ``(a:Item)-[:CO_PURCHASED]-(b:Item)``. ``COMPLEMENTS`` is directed and keyed
by ``(src, dst, model)``: several models may score the same pair.
"""
from __future__ import annotations

import dataclasses
import re

from cartgraph.errors import ConfigError

__all__ = ["NODE_LABELS", "NODE_PROPS", "RelSpec", "REL_TYPES", "EVENT_RELS", "CATEGORY_SEP",
           "node_type", "edge_type", "check_label", "check_rel_type"]

CATEGORY_SEP = " > "
"""Joins a category path into the category node id (``"Home > Kitchen"``)."""

NODE_LABELS: tuple[str, ...] = ("User", "Item", "Category", "Bundle")

NODE_PROPS: dict[str, dict[str, str]] = {
    "User": {},
    "Item": {"title": "str", "description": "str", "brand": "str", "price": "float"},
    "Category": {"name": "str", "level": "int"},
    "Bundle": {"name": "str", "intent": "str", "price": "float"},
}
"""Properties besides ``id`` (Item nodes also carry ``embedding`` when vectors exist)."""


@dataclasses.dataclass(frozen=True)
class RelSpec:
    """One relationship type: its endpoints, properties and extra merge key."""

    type: str
    src: str
    dst: str
    props: dict[str, str]
    key: tuple[str, ...] = ()

    @property
    def edge_type(self) -> tuple[str, str, str]:
        """The PyG edge type, e.g. ``("user", "purchased", "item")``."""
        return (node_type(self.src), self.type.lower(), node_type(self.dst))


_INTERACTION = {"count": "int", "first_ts": "datetime", "last_ts": "datetime"}

REL_TYPES: dict[str, RelSpec] = {spec.type: spec for spec in (
    RelSpec("VIEWED", "User", "Item", _INTERACTION),
    RelSpec("CLICKED", "User", "Item", _INTERACTION),
    RelSpec("CARTED", "User", "Item", _INTERACTION),
    RelSpec("PURCHASED", "User", "Item", _INTERACTION),
    RelSpec("IN_CATEGORY", "Item", "Category", {}),
    RelSpec("SUBCATEGORY_OF", "Category", "Category", {}),
    RelSpec("CO_PURCHASED", "Item", "Item", {"count": "int", "lift": "float"}),
    RelSpec("SIMILAR_TO", "Item", "Item", {"score": "float"}),
    RelSpec("COMPLEMENTS", "Item", "Item", {"score": "float", "model": "str"}, key=("model",)),
    RelSpec("CONTAINS", "Bundle", "Item", {"position": "int"}),
    RelSpec("CHOSE", "User", "Bundle", {"ts": "datetime"}),
)}

EVENT_RELS: dict[str, str] = {"view": "VIEWED", "click": "CLICKED", "cart": "CARTED", "purchase": "PURCHASED"}
"""Event kind → relationship type."""

_NAME = re.compile(r"^[A-Z][A-Za-z_]*$")
assert all(_NAME.match(n) for n in (*NODE_LABELS, *REL_TYPES)), "schema names must be plain identifiers"


def node_type(label: str) -> str:
    """PyG node type of a label (``"Item"`` → ``"item"``)."""
    return check_label(label).lower()


def edge_type(rel_type: str) -> tuple[str, str, str]:
    """PyG edge type of a relationship type."""
    return check_rel_type(rel_type).edge_type


def check_label(label: str) -> str:
    """Return ``label`` if it is a schema node label, else raise :class:`ConfigError`."""
    if label not in NODE_LABELS:
        raise ConfigError(f"unknown node label {label!r}; valid: {list(NODE_LABELS)}")
    return label


def check_rel_type(rel_type: str) -> RelSpec:
    """The :class:`RelSpec` of ``rel_type``; raise :class:`ConfigError` if not in the schema."""
    try:
        return REL_TYPES[rel_type]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown relationship type {rel_type!r}; valid: {list(REL_TYPES)}") from None
