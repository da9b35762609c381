"""HTTP helpers both front ends share (the service's API in `flexrec.server`, the console in
`flexrec.console`): documented responses, the body cap, the error boundary, thread pools, the
Flex-token guard and its budgets, the audit filters. Neither front end imports the other."""
