"""The QKD link engine: detection events to identical secret key blocks at both ends."""
