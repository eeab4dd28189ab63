"""The toy's testbed seam: the declared points where a negative control may act differently.

How seams work, and why one cannot be switched on by accident: teddy/contracts/seam.py. The
toy marks the function behind each point with `@seam_point("name")`; a broken toy is a subclass
overriding the points it needs, installed by the scenario agent's mutants
(scenarios/variants/mutants.py). Each point names the function behind it and the rules a
change there can break.
"""

from __future__ import annotations

from typing import Any

from teddy.contracts.seam import Honest, Seam, SeamError

__all__ = ["Honest", "SeamError", "ToySeam", "install", "installed", "refuse_outside_testbed",
           "seam_point", "uninstall"]


class ToySeam(Seam):
    """The honest toy. Subclasses override the points a negative control changes."""

    side = "toy"

    def recognise(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """device.toy.Toy.recognise(toy, pcm) -> Heard: a clip held in memory recognised,
        then wiped (R02)."""
        return honest(*args, **kwargs)

    def decide(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """device.privacy.gate.EgressGate.decide(gate, intent, slots, locale) -> Decision:
        what of an intent may leave the toy under the consent policy (R04, R12)."""
        return honest(*args, **kwargs)


install = ToySeam.install
uninstall = ToySeam.uninstall
installed = ToySeam.installed
refuse_outside_testbed = ToySeam.refuse_outside_testbed
seam_point = ToySeam.point
