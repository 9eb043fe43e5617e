"""A small scenario built from network objects: a fiber chain on the mainland, two optical
ground stations (one overseas) and one satellite relaying between them."""

from euroqci.network.topology import (
    Demand,
    FailureModel,
    FiberLink,
    GroundStation,
    Network,
    SatelliteSegment,
    SatelliteSpec,
    Scenario,
    Site,
)

SITES = (
    Site("BE-BRU", "Brussels", "BE", 50.85, 4.35, "capital"),
    Site("LU-LUX", "Luxembourg", "LU", 49.61, 6.13, "capital"),
    Site("FR-PAR", "Paris", "FR", 48.86, 2.35, "capital"),
    Site("FR-OGS", "Caussols OGS", "FR", 43.755, 6.922, "ground_station"),
    Site("RE-OGS", "Reunion OGS", "FR", -21.2, 55.57, "ground_station", overseas=True),
    Site("RE-SDN", "Saint-Denis", "FR", -20.88, 55.45, "government", overseas=True),
)


def small_scenario(days_failures: bool = True) -> Scenario:
    by = {s.id: s for s in SITES}
    fibers = (
        FiberLink.between(by["BE-BRU"], by["LU-LUX"]),
        FiberLink.between(by["BE-BRU"], by["FR-PAR"]),
        FiberLink("FR-OGS", "FR-PAR", length_km=75.0),
        FiberLink.between(by["RE-OGS"], by["RE-SDN"]),
    )
    seg = SatelliteSegment((SatelliteSpec(),), (GroundStation("FR-OGS", cloud_probability=0.3),
                                                GroundStation("RE-OGS", cloud_probability=0.4)))
    return Scenario(
        "small", Network(SITES, fibers, seg),
        demands=(Demand("LU-LUX", "BE-BRU", rate_bps=1000.0),
                 Demand("FR-PAR", "BE-BRU", refresh_bits=256, interval_s=60),
                 Demand("RE-SDN", "FR-PAR", refresh_bits=256, interval_s=600)),
        failures=FailureModel(enabled=days_failures),
    )
