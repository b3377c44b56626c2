"""The web application's static files (static/, built from web/ by `make web`).

A package only so that the built files ship inside guetteur's wheel; api/web.py
serves them.
"""
