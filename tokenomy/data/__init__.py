"""Data files shipped with tokenomy (the default token price table)."""
