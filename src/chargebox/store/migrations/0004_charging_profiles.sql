-- 0004_charging_profiles: OCPP Smart Charging profiles installed by the central system.
-- A profile must outlive a restart (a ChargePointMaxProfile protects the site's fuse);
-- TxProfiles are deleted when their transaction ends. `profile` is the OCPP JSON as sent
-- (csChargingProfiles), the other columns index it for replacement and ClearChargingProfile.

CREATE TABLE charging_profiles (
    id              INTEGER PRIMARY KEY NOT NULL,              -- chargingProfileId
    connector_id    INTEGER NOT NULL CHECK (connector_id >= 0),
    purpose         TEXT NOT NULL CHECK (purpose IN
                        ('ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile')),
    stack_level     INTEGER NOT NULL CHECK (stack_level >= 0),
    transaction_id  INTEGER,
    profile         TEXT NOT NULL CHECK (json_valid(profile)),
    installed_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_charging_profiles_stack
    ON charging_profiles (connector_id, purpose, stack_level);
