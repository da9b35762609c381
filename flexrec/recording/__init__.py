"""Recording control: policy, orchestration, pause and resume, task-attribute merge."""
