"""The EuroQCI digital twin: the network over days in virtual time.

Pipeline (:func:`euroqci.sim.runner.run_scenario`): plan trusted nodes ->
:func:`~euroqci.sim.build.build_model` (key rates, satellite passes) ->
:func:`~euroqci.sim.engine.simulate` -> :mod:`~euroqci.sim.metrics` ->
:func:`~euroqci.sim.report.write_outputs` (summary.json, figures, report.html).
See docs/digital-twin.md.
"""
