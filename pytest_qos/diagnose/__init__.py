"""Where a failed test failed: measured statements, never guesses (issue 19).

Owns a test's diagnosis (`Diagnosis.attach`, called by scenario/run.py once its bounds are
judged): it probes the path hop by hop with the hops probe, idle and then under the test's own
load, reads what the test's measurements already carry (each lab router's counters, the udp
probe's one-way split, the DSCP at the far end), and states where the queue, the delay, the
loss and the re-marking are, each statement with its numbers; where evidence is missing it
says what was not measured and why. Also the mesh pattern across a file's pairs (`mesh.py`),
the path against a baseline's, and the words every report uses (`text.py`).

Sits after lab/ and methods/ and before scenario/ in the import order: it may import the
foundation, judge, hosts, measure and probes (the lab's counters reach it as measurements, so
it needs nothing of lab/); scenario/, store/, report/ and plugin/ import it.
"""

from .finding import Finding
from .step import WHEN, WHEN_HELP, Diagnosis

__all__ = ["WHEN", "WHEN_HELP", "Diagnosis", "Finding"]
