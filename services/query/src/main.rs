//! `muster-query`: the query service. Everything is in
//! `muster_query::service`, so tests run exactly this code.

fn main() -> anyhow::Result<()> {
    muster_query::service::main()
}
