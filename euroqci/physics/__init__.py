"""Link physics: channels, sources, detectors, protocols' key rates, orbits and passes."""
