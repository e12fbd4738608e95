-- Each distribution's aliases by the key two aliases are compared with (lowercased, one
-- trailing dot dropped: domain/config_rules.alias_key), so a distribution write checks its
-- aliases against the owners of those keys only, not against every stored distribution.
CREATE TABLE distribution_aliases (
    alias_key        TEXT NOT NULL,
    distribution_id  TEXT NOT NULL REFERENCES distributions(id) ON DELETE CASCADE
);
CREATE INDEX distribution_aliases_by_key ON distribution_aliases (alias_key);
CREATE INDEX distribution_aliases_by_distribution ON distribution_aliases (distribution_id);
INSERT INTO distribution_aliases (alias_key, distribution_id)
    SELECT DISTINCT
        CASE WHEN substr(lower(a.value), -1) = '.'
             THEN substr(lower(a.value), 1, length(a.value) - 1)
             ELSE lower(a.value) END,
        d.id
    FROM distributions d, json_each(d.aliases) a;
