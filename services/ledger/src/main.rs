//! `muster-ledger`: the ledger service. Everything is in
//! `muster_ledger::service`, so tests run exactly this code.

fn main() -> anyhow::Result<()> {
    muster_ledger::service::main()
}
