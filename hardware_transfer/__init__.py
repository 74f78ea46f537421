"""Hardware transfer of AlgoPerf's wall-clock budgets and VeLO's step prompt.

The two procedures of the protocol (docs: "Hardware transfer of the wall-clock
budget", "Estimating VeLO's step prompt"), each a small pure function in
``arithmetic``, with command-line entry points:

* ``python -m hardware_transfer.probe``: a short run of the target-setting
  algorithm (or VeLO) that writes a measurement file;
* ``python -m hardware_transfer.transfer``: measurements -> ``budgets.json``;
* ``python -m hardware_transfer.step_prompt``: budgets + VeLO probes -> VeLO's
  tuning search spaces (``velo/<workload>.json``, ``velo_short/<workload>.json``);
* ``python -m hardware_transfer.launch``: a run of the official or local runner
  with the transferred budget in place of the workload's own.
"""
