"""The study layer: trials of a study on either runner, from one command per trial.

It sits above the runners (``local_runner``) and the transfer arithmetic
(``hardware_transfer``) and owns: the trial spec and its command (``trial``), which runner
and which Python (``runners``), where submissions and search spaces are found (``locate``),
budgets per condition (``budgets``), the official runner's wrapping (``official``), and
the commands ``launch``, ``submit``, ``sweep`` (with ``slurm`` and the report job
``slurm_report``), ``probe`` and ``demo``.
"""
