"""Card data spoken in recordings (PCI DSS): found in transcripts, silenced before archiving.

`digits` (spoken words to digits), `detect` (card numbers, expiry, security codes and extra
patterns across pauses and groupings), `redact` (silence or tone over the spans, every other
sample untouched), `stage` (the archive's one call before sealing: transcribe, detect, redact,
report). Pure except `stage`, which runs an engine.
"""
