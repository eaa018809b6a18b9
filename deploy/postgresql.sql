-- Run once as the postgres superuser: the database and its owner for tiepdan.
CREATE ROLE tiepdan LOGIN;
CREATE DATABASE tiepdan OWNER tiepdan ENCODING 'UTF8' TEMPLATE template0;
-- Migrations are applied by `tiepdan db upgrade` (ExecStartPre in tiepdan.service).
