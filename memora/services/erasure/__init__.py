"""GDPR erasure of a person: a fan across every creator (`fan`), a player across every season (`player`).

Each erasure removes the person's rows and Redis keys, leaves one Memora Erasure row (`entry`) that
names them only by pseudonym, and returns a `receipt` of what went, per table and per key family. The
erasure of one fan-creator pair is `UserMemoryService.clear_memory`, which records an entry too.
"""
