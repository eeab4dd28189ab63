"""Run the scenario's toy agent as a negative control: a toy seam installed first.

The seam (device/seam.py) is installed for the testbed, then the agent runs exactly as
`python -m scenarios.toy_agent` would, with the real gate and toy behind the seam's points.
"""

from __future__ import annotations

from collections.abc import Sequence

from device.seam import ToySeam, install


def run_toy_agent(argv: Sequence[str], variant: ToySeam) -> int:
    install(variant, testbed=True)
    from scenarios.toy_agent import main

    return main(list(argv))
