"""Memora's business logic. Every module here reaches the outside world only through `memora.runtime`."""
