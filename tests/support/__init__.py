"""Helpers the tests share, and the benchmarks may import (never the other way round)."""
