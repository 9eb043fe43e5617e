"""The EuroQCI digital twin: the network over days in virtual time."""
