"""The playback console: recordings list, dual-channel player, sign-in and audit."""
