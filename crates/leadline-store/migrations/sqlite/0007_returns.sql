-- Lead returns, the money ledger, and replacement requests.

-- A sale that fulfils a replacement request points at the return it replaces; such a lead is a
-- replacement, which a contract may refuse to take back (buyer_contracts.replace_returns).
ALTER TABLE sales ADD COLUMN replaces_return_id INTEGER;

-- One return per sale. Its status moves pending -> approved_credit | approved_replace | rejected
-- once; the decision is a conditional UPDATE (... WHERE status = 'pending'), so of two
-- concurrent decisions exactly one takes effect.
CREATE TABLE returns (
    id INTEGER PRIMARY KEY,
    sale_id INTEGER NOT NULL REFERENCES sales(id),
    lead_id INTEGER NOT NULL,
    buyer_contract_id INTEGER NOT NULL REFERENCES buyer_contracts(id),
    buyer_id INTEGER NOT NULL REFERENCES buyers(id),
    status TEXT NOT NULL,
    return_reason_id INTEGER NOT NULL REFERENCES return_reasons(id),
    denied_reason_id INTEGER REFERENCES reject_reasons(id),
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    created_by_key INTEGER,
    decided_by_key INTEGER
);
CREATE UNIQUE INDEX returns_sale ON returns (sale_id);
CREATE INDEX returns_status ON returns (status, id);
CREATE INDEX returns_buyer ON returns (buyer_id, id);

-- Money movements in minor units: buyer credits for returns approved for credit (positive: owed
-- to the buyer), and call-center fees on leads. A return is credited at most once.
CREATE TABLE ledger (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    buyer_id INTEGER REFERENCES buyers(id),
    lead_id INTEGER,
    sale_id INTEGER REFERENCES sales(id),
    return_id INTEGER REFERENCES returns(id),
    amount_minor INTEGER NOT NULL,
    at INTEGER NOT NULL,
    key_id INTEGER
);
CREATE UNIQUE INDEX ledger_return ON ledger (return_id) WHERE return_id IS NOT NULL;
CREATE INDEX ledger_buyer ON ledger (buyer_id, id);
CREATE INDEX ledger_lead ON ledger (lead_id, id);

-- A buyer contract owed a replacement lead for a return approved for replacement.
CREATE TABLE replacement_requests (
    id INTEGER PRIMARY KEY,
    return_id INTEGER NOT NULL UNIQUE REFERENCES returns(id),
    buyer_contract_id INTEGER NOT NULL REFERENCES buyer_contracts(id),
    buyer_id INTEGER NOT NULL REFERENCES buyers(id),
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    fulfilled_sale_id INTEGER REFERENCES sales(id)
);
CREATE INDEX replacement_requests_status ON replacement_requests (status, id);
