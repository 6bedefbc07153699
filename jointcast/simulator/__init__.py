"""Synthetic multi-agency incident feeds with known ground truth, for demos and tests.

``simulate(out)`` writes each agency's feed in its own source format under ``out/feeds/``,
a ready ``out/jointcast.toml``, planned events in ``out/events.csv`` and the truth under
``out/truth/`` (expected demand per agency x area x hour, injected defect counts).
"""

from jointcast.simulator.defects import DEFECT_KINDS
from jointcast.simulator.simulation import SimulationSummary, simulate

__all__ = ["DEFECT_KINDS", "SimulationSummary", "simulate"]
