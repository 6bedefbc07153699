-- Every configured quantile (config forecast.quantiles) of each forecast hour, beside the
-- contract's p10/p50/p90 (always the 0.1, 0.5 and 0.9 quantiles, whatever is configured).
--
-- A MAP(DOUBLE, DOUBLE) from the quantile level to the incidents at that level, so a planner
-- reads one level as quantiles[0.95]. quantiles holds the overrides-applied values (each one
-- times override_factor, like p10..p90); model_quantiles the model's own. Rows published
-- before this migration get NULL; the next forecast fills forecast.demand. The per-agency
-- views select * and take the new columns and their comments at the next publication.

ALTER TABLE forecast.demand ADD COLUMN quantiles MAP(DOUBLE, DOUBLE);
ALTER TABLE forecast.demand ADD COLUMN model_quantiles MAP(DOUBLE, DOUBLE);
ALTER TABLE forecast.history ADD COLUMN quantiles MAP(DOUBLE, DOUBLE);
ALTER TABLE forecast.history ADD COLUMN model_quantiles MAP(DOUBLE, DOUBLE);

COMMENT ON COLUMN forecast.demand.quantiles IS 'Incidents in the hour at every quantile level of the config''s forecast.quantiles, overrides applied: level -> value, e.g. quantiles[0.95] (NULL for rows published before the column).';
COMMENT ON COLUMN forecast.demand.model_quantiles IS 'The model''s own quantiles map, before planner overrides: level -> value, e.g. model_quantiles[0.95].';
