//! The query service as a child process for tests that SIGKILL it: the
//! very code of the `muster-query` binary.

fn main() -> anyhow::Result<()> {
    muster_query::service::main()
}
