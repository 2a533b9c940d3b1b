"""Language-model text features: item and user vectors, cold start, derived categories.

See DESIGN.md (pipeline stage ``text/``)::

    enc = TextEncoder(cache=True)              # bundled all-MiniLM-L6-v2, offline
    index = TextIndex(enc).fit(dataset)        # item + user vectors
    index.similar_items({"title": "Espresso cups, set of 4"}, k=5)   # a new item
    index.recommend_for_query("gifts for a coffee lover", k=10)      # a new user
    derived = derive_categories(dataset, index.item_vectors_)        # Online Retail

Heavy imports (torch, transformers) happen only when a model is first used.
"""
from cartgraph.text.cache import EmbeddingCache, default_cache_dir
from cartgraph.text.categories import CategoryTree, category_tree, derive_categories
from cartgraph.text.encoder import TextEncoder
from cartgraph.text.index import TextIndex
from cartgraph.text.item_text import ItemTextTemplate, item_texts
from cartgraph.text.vectors import UserVectorConfig, events_vector, item_vectors, user_vectors

__all__ = [
    "CategoryTree",
    "EmbeddingCache",
    "ItemTextTemplate",
    "TextEncoder",
    "TextIndex",
    "UserVectorConfig",
    "category_tree",
    "default_cache_dir",
    "derive_categories",
    "events_vector",
    "item_texts",
    "item_vectors",
    "user_vectors",
]
