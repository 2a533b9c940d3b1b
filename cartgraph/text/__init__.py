"""Language-model text features: item and user vectors, cold start, derived categories.

See DESIGN.md (pipeline stage ``text/``). Heavy imports (torch, transformers) happen
only when a model is first used.
"""
from cartgraph.text.cache import EmbeddingCache, default_cache_dir
from cartgraph.text.encoder import TextEncoder

__all__ = ["EmbeddingCache", "TextEncoder", "default_cache_dir"]
