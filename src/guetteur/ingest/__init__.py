"""Readers of document formats: one module per format, chosen by `registry`."""

from guetteur.ingest._base import Parser, RawDocument
from guetteur.ingest.registry import (
    SUPPORTED_SUFFIXES,
    iter_input_files,
    parse_file,
    parser_for,
)

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Parser",
    "RawDocument",
    "iter_input_files",
    "parse_file",
    "parser_for",
]
