-- Workers wait for this notification instead of polling: a job queued (or put back in the
-- queue) wakes them when its transaction commits. The payload is the job's kind.
CREATE FUNCTION slipway_job_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('slipway_jobs', NEW.kind);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_queued_notify
    AFTER INSERT OR UPDATE OF state ON jobs
    FOR EACH ROW WHEN (NEW.state = 'queued')
    EXECUTE FUNCTION slipway_job_queued();
