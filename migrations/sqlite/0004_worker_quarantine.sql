-- Why a worker may lease no more trials (an operator's `workers quarantine`, leases that kept
-- expiring, or failures that other workers' runs of the same trials refuted); NULL while it may.
ALTER TABLE workers ADD COLUMN quarantined TEXT;
