-- How many reservations of a sale have given their units back. The Redis
-- reservation front remembers the value it was seeded at; a request that
-- reads a different one knows the front missed a release and re-seeds it.
ALTER TABLE flash_sales ADD COLUMN releases BIGINT NOT NULL DEFAULT 0;
