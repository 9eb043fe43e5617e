"""euroqci: a quantum communication infrastructure stack.

Layers, bottom to top: ``physics`` (link models and key rates), ``qkd`` (the QKD link
engine), ``network`` (topology, planning, routing, relay accounting), ``sim`` (the
EuroQCI digital twin), ``kms`` (Key Management Entities speaking ETSI GS QKD 014).
Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"
