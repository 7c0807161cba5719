"""Process managers at run time: the shared worker loop, the job queue and its workers."""
