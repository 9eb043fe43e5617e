"""Key Management Entity: ETSI GS QKD 014 over mutual TLS, key stores, relay."""
