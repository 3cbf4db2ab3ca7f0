//! The `l7mpc` command line: parses arguments, reads files, runs the library, sets the exit code
//! (0 clean, 1 diagnostics that fail the run, 2 usage or I/O errors).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use l7mpc::check::{Options, check};
use l7mpc::diagnostics::{Format, render};
use l7mpc::load::read_sources;

/// Compiles l7mp.io/v1 VirtualService, Target and Rule resources plus workload manifests into
/// per-pod l7mp proxy configs.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validates the resources and reports every problem found.
    Check(CheckArgs),
    /// Prints the VirtualService, Target and Rule CRDs as one YAML stream.
    Crds,
}

#[derive(Args)]
struct CheckArgs {
    /// Files or directories (recursively, *.yaml and *.yml) to read; `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Fails the run on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Namespace of objects whose manifest names none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Lists the documents skipped because the compiler does not read their kind.
    #[arg(short, long)]
    verbose: bool,
    /// Never colours the output (also off when stdout is not a terminal or NO_COLOR is set).
    #[arg(long)]
    no_color: bool,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check(args) => run_check(&args),
        Command::Crds => {
            print_out(&l7mpc::crd::crds_yaml());
            ExitCode::SUCCESS
        }
    }
}

fn run_check(args: &CheckArgs) -> ExitCode {
    let files = match read_sources(&args.files) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("l7mpc: {e}");
            return ExitCode::from(2);
        }
    };
    let options = Options {
        namespace: args.namespace.clone(),
    };
    let outcome = check(&files, &options);
    if args.verbose {
        for skipped in &outcome.inputs.skipped {
            eprintln!("skipped {skipped}");
        }
    }
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let text = |name: &str| {
        files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.text.as_str())
    };
    print_out(&render(&outcome.diagnostics, text, args.format, color));
    if outcome.failed(args.deny_warnings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes to stdout, ignoring a closed pipe (`l7mpc crds | head` must not panic).
fn print_out(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}
