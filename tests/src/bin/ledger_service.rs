//! The ledger service as a child process for tests that SIGKILL it: the
//! very code of the `muster-ledger` binary.

fn main() -> anyhow::Result<()> {
    muster_ledger_service::main()
}
