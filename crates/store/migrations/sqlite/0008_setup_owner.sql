-- First-run setup creates one owner, decided by the database rather than by a lock
-- inside one process: the user it creates carries setup_owner = 1, and the unique
-- index lets one such user exist (NULL, every other user, is never a duplicate). Two
-- setups racing on two servers of one database: the second insert fails.
ALTER TABLE users ADD COLUMN setup_owner INTEGER;
CREATE UNIQUE INDEX users_one_setup_owner ON users (setup_owner);
