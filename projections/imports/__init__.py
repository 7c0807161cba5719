"""Read models of the imports context: job statuses, and the queue of jobs to perform."""
