"""Chain of custody: anchoring the audit chain, `flexrec verify`, signed exports and erasure.

Built on the archive (its manifest, store and hash-chained audit log); the archive never imports
this package.
"""
