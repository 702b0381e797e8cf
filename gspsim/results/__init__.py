"""Simulation results: the SimResult dataclasses, their JSON form, and atomic file output."""

from .result import SCHEMA_VERSION, CheckResult, NodeResult, SimResult, Timeline

__all__ = ["SCHEMA_VERSION", "CheckResult", "NodeResult", "SimResult", "Timeline"]
