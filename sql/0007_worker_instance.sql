-- Each worker daemon instance has an identity of its own (a UUID kept in its state
-- directory). A worker row belongs to the instance that registered it last: a second live
-- daemon claiming the same name is refused, and polls of an instance that no longer owns
-- the name are refused, so two daemons never declare each other's executions lost.
ALTER TABLE workers ADD COLUMN instance text;
