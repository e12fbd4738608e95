"""invalidator: a self-hostable, CloudFront-compatible cache invalidation service."""

__version__ = "0.1.0"
