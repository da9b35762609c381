"""Conversation analytics from two channels: pure numpy, arrays in and numbers out."""
