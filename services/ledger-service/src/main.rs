//! `muster-ledger`: the ledger service. Everything is in
//! `muster_ledger_service`, so tests run exactly this code; the exit
//! codes (README.md) are `muster_bus::service::service_main`'s.

fn main() -> std::process::ExitCode {
    use muster_ledger_service::{run, Args};
    muster_bus::service::service_main(
        "muster-ledger",
        |args: &Args| args.common.log_json,
        |args| run(args, muster_bus::service::shutdown_signal()),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_option_has_a_description() {
        use clap::CommandFactory;
        let command = muster_ledger_service::Args::command();
        assert_eq!(muster_bus::service::undescribed_options(&command), Vec::<String>::new());
    }
}
