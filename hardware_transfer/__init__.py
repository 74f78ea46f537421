"""Hardware transfer of AlgoPerf's wall-clock budgets and VeLO's step prompt.

The two procedures of the protocol (docs/protocol.md: "Hardware transfer of the wall-clock
budget", "Estimating VeLO's step prompt"), each a small pure function in ``arithmetic``,
with their built-in tables (``files``; every file's format is ``bench_core.file_formats``'),
measurements read from runner logs (``log_measurements``) and two commands:

* ``python -m hardware_transfer.transfer``: measurements -> ``budgets.json``;
* ``python -m hardware_transfer.step_prompt``: budgets + VeLO probes -> VeLO's
  tuning search spaces (``velo/<workload>.json``, ``velo_short/<workload>.json``).

The runs that produce the measurements (``python -m study.probe``) and the runs that use
the budgets (``python -m study.launch``) belong to the study layer, ``study/``.
"""
