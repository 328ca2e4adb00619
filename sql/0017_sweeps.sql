-- Parameter sweeps: a task made by a sweep keeps its parameters (name -> value), as its
-- task.submitted event holds them; NULL for a task submitted on its own.
ALTER TABLE tasks ADD COLUMN parameters jsonb;
