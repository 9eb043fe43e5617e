"""Link physics: channels, sources, detectors, protocols' key rates, orbits and passes.

Like the other subpackages this file imports nothing (``import euroqci.physics`` stays light,
DESIGN.md section 2): import each name from its module, e.g.
``from euroqci.physics.bbm92 import bbm92_key_rate, bbm92_secret_fraction``.
"""
