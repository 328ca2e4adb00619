-- A worker's settings version counts only the events that change its settings
-- (registration and settings changes), so that a status change (offline, online) does not
-- end its parked poll or make it believe its settings changed.
ALTER TABLE workers ADD COLUMN settings_version integer NOT NULL DEFAULT 1;
