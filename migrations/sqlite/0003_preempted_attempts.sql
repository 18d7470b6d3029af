-- A third way for an attempt to end: `preempted`, when its worker was shut down (SIGTERM, a
-- cluster taking the machine back) and handed the trial back. The trial is re-queued at once
-- and neither failure budget is touched. SQLite cannot alter a CHECK: the table is rebuilt
-- (nothing references it).
CREATE TABLE attempts_new (
    trial_id    INTEGER NOT NULL REFERENCES trials (id),
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    worker_id   INTEGER NOT NULL REFERENCES workers (id),
    lease_token INTEGER NOT NULL,
    state       TEXT    NOT NULL
                CHECK (state IN ('running', 'complete', 'pruned', 'failed', 'lost', 'preempted')),
    failure     TEXT    CHECK (failure IN ('user', 'infrastructure')),
    error       TEXT,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (trial_id, attempt)
) WITHOUT ROWID;

INSERT INTO attempts_new
    (trial_id, attempt, worker_id, lease_token, state, failure, error, started_at, finished_at)
SELECT trial_id, attempt, worker_id, lease_token, state, failure, error, started_at, finished_at
FROM attempts;

DROP TABLE attempts;

ALTER TABLE attempts_new RENAME TO attempts;
