-- Migration 001: add the index idx_order_date_time on `order`(order_date_time).
--
-- Why: the daily report selects one day of orders by a range on order_date_time
-- (UTC bounds of the cafe day). Without an index every report scans the whole
-- order table, which only grows. The lab schema has no such index; db/seed.sql
-- already creates it, so this is for databases created from the original lab.
--
-- Apply to the database that holds the cafe tables:
--     mysql -h HOST -u USER -p cafe_db < db/migrations/001_order_date_time_index.sql
--
-- Safe to run again: it does nothing when `order` already has an index named
-- idx_order_date_time or any index that starts with order_date_time (a second
-- one would only slow down writes). MySQL 8.4 and MariaDB 10.11 both lack a
-- portable CREATE INDEX IF NOT EXISTS, hence the check and a prepared statement.
-- The index is built online (ALGORITHM=INPLACE, LOCK=NONE): orders can still be
-- written while it builds. A server that cannot do that fails the statement
-- instead of silently locking the table.

SET @cafe_001_present = (
  SELECT COUNT(*)
  FROM information_schema.statistics
  WHERE table_schema = DATABASE()
    AND table_name = 'order'
    AND (index_name = 'idx_order_date_time'
         OR (column_name = 'order_date_time' AND seq_in_index = 1))
);

SET @cafe_001_ddl = IF(
  @cafe_001_present = 0,
  'ALTER TABLE `order` ADD INDEX idx_order_date_time (order_date_time), ALGORITHM=INPLACE, LOCK=NONE',
  'DO 0'
);

PREPARE cafe_001_stmt FROM @cafe_001_ddl;
EXECUTE cafe_001_stmt;
DEALLOCATE PREPARE cafe_001_stmt;
