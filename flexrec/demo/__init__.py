"""`flexrec demo`: run the service against the simulator and score it against ground truth."""
