"""The common operational picture: tracks, Cursor-on-Target in and out, TAK."""
