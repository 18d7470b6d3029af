-- A third way for an attempt to end: `preempted`, when its worker was shut down (SIGTERM, a
-- cluster taking the machine back) and handed the trial back. The trial is re-queued at once
-- and neither failure budget is touched.
ALTER TABLE attempts
    DROP CONSTRAINT attempts_state_check,
    ADD CONSTRAINT attempts_state_check
        CHECK (state IN ('running', 'complete', 'pruned', 'failed', 'lost', 'preempted'));
