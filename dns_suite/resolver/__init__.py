"""The caching recursive resolver (RFC 1034 §5.3.3): a sans-IO core and its service."""
