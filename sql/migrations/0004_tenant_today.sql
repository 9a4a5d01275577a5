-- Encours schema, migration 4: the current tenant's calendar date in one place.
--
-- Dates in the ledger are calendar dates in the tenant's time zone; reports, disputes and
-- (soon) dunning all need "today" for the tenant of the transaction.

-- Today in the time zone of the transaction's tenant (NULL when no tenant is set).
CREATE FUNCTION encours.current_tenant_today() RETURNS DATE
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (now() AT TIME ZONE timezone)::date FROM encours.tenants WHERE id = encours.current_tenant_id()
$$;
GRANT EXECUTE ON FUNCTION encours.current_tenant_today() TO encours_tenant;
