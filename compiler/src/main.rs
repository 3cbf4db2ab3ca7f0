//! The `l7mpc` command line: parses arguments, reads files, runs the library, sets the exit code
//! (0 clean, 1 diagnostics that fail the run, 2 usage or I/O errors).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use l7mpc::check::{Options, check};
use l7mpc::compile::{Compiled, compile};
use l7mpc::diagnostics::{Format, render};
use l7mpc::graph::GraphFormat;
use l7mpc::load::{ReadError, SourceFile, read_sources};

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
    /// Compiles the resources into ConfigMaps (and headless Services) for `kubectl apply -f -`.
    Compile(CompileArgs),
    /// Draws the mesh's dataflow graph.
    Graph(GraphArgs),
    /// Prints the VirtualService, Target and Rule CRDs as one YAML stream.
    Crds,
}

/// What `compile` writes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    /// ConfigMaps holding the configs, then the headless Services.
    Configmap,
    /// The bare proxy config of each workload.
    Config,
}

#[derive(Args)]
struct CompileArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Writes one file per object under DIR/<namespace>/ instead of one stream on stdout.
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    output: Option<PathBuf>,
    /// A `kubectl get pods -o yaml` snapshot: endpoints become pod IPs, no Services.
    #[arg(long, value_name = "FILE")]
    pods: Option<PathBuf>,
    /// What to write.
    #[arg(long, value_enum, default_value_t = OutputFormat::Configmap)]
    format: OutputFormat,
}

#[derive(Args)]
struct GraphArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Drawing language.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    format: GraphFormat,
}

/// The input options `compile` and `graph` share.
#[derive(Args)]
struct InputArgs {
    /// Files or directories (recursively, *.yaml and *.yml) to read; `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Namespace of objects whose manifest names none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Fails the run on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Format of the diagnostics, which go to stderr.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    diagnostics: Format,
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
        Command::Compile(args) => run_compile(&args),
        Command::Graph(args) => run_graph(&args),
        Command::Crds => {
            print_out(&l7mpc::crd::crds_yaml());
            ExitCode::SUCCESS
        }
    }
}

fn run_check(args: &CheckArgs) -> ExitCode {
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let files = match read_sources(&args.files) {
        Ok(files) => files,
        Err(e) => return unread(e, args.format, color, print_out),
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
    let texts = by_name(&files);
    let text = |name: &str| texts.get(name).copied();
    print_out(&render(&outcome.diagnostics, text, args.format, color));
    if outcome.failed(args.deny_warnings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads the input, compiles it and prints its diagnostics to stderr; None on usage errors.
fn compile_input(input: &InputArgs, pods: Option<&PathBuf>) -> Result<Compiled, ExitCode> {
    let color = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let usage = |e: ReadError| unread(e, input.diagnostics, color, print_err);
    let files = read_sources(&input.files).map_err(usage)?;
    let pods = match pods {
        Some(path) => Some(read_sources(std::slice::from_ref(path)).map_err(usage)?),
        None => None,
    };
    let options = Options {
        namespace: input.namespace.clone(),
    };
    let compiled = compile(&files, pods.as_deref(), &options);
    let texts = by_name(files.iter().chain(pods.iter().flatten()));
    let text = |name: &str| texts.get(name).copied();
    if !compiled.diagnostics.is_empty() {
        let rendered = render(&compiled.diagnostics, text, input.diagnostics, color);
        let _ = std::io::stderr().write_all(rendered.as_bytes());
    }
    let denied = input.deny_warnings && !compiled.diagnostics.is_empty();
    if denied || compiled.output.is_none() {
        return Err(ExitCode::from(1));
    }
    Ok(compiled)
}

fn run_compile(args: &CompileArgs) -> ExitCode {
    let compiled = match compile_input(&args.input, args.pods.as_ref()) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let Some(output) = compiled.output else {
        return ExitCode::from(1);
    };
    let (docs, stream) = match args.format {
        OutputFormat::Configmap => {
            let docs: Vec<_> = output.config_maps.iter().chain(&output.services).collect();
            (docs, output.manifests())
        }
        OutputFormat::Config => (output.configs.iter().collect(), output.bare_configs()),
    };
    let Some(dir) = &args.output else {
        print_out(&stream);
        return ExitCode::SUCCESS;
    };
    for doc in docs {
        let file = match args.format {
            OutputFormat::Configmap => format!("{}-{}.yaml", doc.kind.to_lowercase(), doc.name),
            OutputFormat::Config => format!("{}.yaml", doc.name),
        };
        let folder = dir.join(&doc.namespace);
        let written = std::fs::create_dir_all(&folder)
            .and_then(|()| std::fs::write(folder.join(&file), &doc.text));
        if let Err(e) = written {
            eprintln!("l7mpc: {}: {e}", folder.join(&file).display());
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

fn run_graph(args: &GraphArgs) -> ExitCode {
    match compile_input(&args.input, None) {
        Ok(compiled) => {
            print_out(&l7mpc::graph::render(&compiled.mesh, args.format));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Reports input that was not read: an I/O error is a usage error (2); input refused as too
/// large or not UTF-8 is diagnostics, written by `print` in `format`, and fails the run (1).
fn unread(error: ReadError, format: Format, color: bool, print: fn(&str)) -> ExitCode {
    match error {
        ReadError::Io(e) => {
            eprintln!("l7mpc: {e}");
            ExitCode::from(2)
        }
        ReadError::Refused(diagnostics) => {
            print(&render(&diagnostics, |_| None, format, color));
            ExitCode::from(1)
        }
    }
}

/// Each file's text by its name, for the diagnostics' excerpts: a lookup per file with
/// diagnostics must not scan every file, or thousands of files cost their number squared.
fn by_name<'f>(files: impl IntoIterator<Item = &'f SourceFile>) -> HashMap<&'f str, &'f str> {
    files
        .into_iter()
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect()
}

/// Writes to stdout, ignoring a closed pipe (`l7mpc crds | head` must not panic).
fn print_out(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// Writes to stderr, where `compile` and `graph` put their diagnostics.
fn print_err(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}
