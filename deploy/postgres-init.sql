-- Rasa's tracker database beside the service's (docs/scaling.md#rasa): `kefu stack up` creates
-- it itself when its login may; in Docker, the first start of PostgreSQL does.
CREATE DATABASE kefu_rasa OWNER kefu;
