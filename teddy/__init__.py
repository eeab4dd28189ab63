"""Teddy: a privacy-first connected-toy testbed.

This package has two layers that never mix:

- the bottom, which the toy (device/), the cloud (cloud/) and the testbed (scenarios/) all
  import: the shared contracts (`teddy.contracts`: the intent message, the data map, request
  signing, the pairing code), the replies (`teddy.content`), the one input-error type
  (`teddy.errors`), JSON output (`teddy.json_output`), the installation check
  (`teddy.installation`: the distribution's name, files another distribution overwrote,
  top-level names it shares) and small process and audio helpers (`teddy.cloud_process`,
  `teddy.audio_check`). It imports nothing from the three areas.
- the top, which imports the areas and which none of them imports: the `teddy` command
  (`teddy.cli`), the demo (`teddy.demo`) and the benchmark command (`teddy.bench`).

tests/test_import_graph.py holds both rules.
"""

from teddy.installation import DISTRIBUTION

__version__ = "0.1.0"
__all__ = ["DISTRIBUTION", "__version__"]
